"""The training loop: loss goes down, batches are a pure function of (seed, step), a run resumed
from a checkpoint ends exactly where an uninterrupted one does, and the cache loads instead of
training again."""

import pytest
import torch

from ai4m_kit.train import cache_key, fit, step_generator


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    w_true = torch.tensor([[1.0, -2.0, 0.5, 3.0]])

    def step(net, g, i):
        x = torch.randn(16, 4, generator=g)
        return {"loss": ((net(x) - x @ w_true.T) ** 2).mean()}

    return model, step


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path))


def test_loss_decreases_and_cache_loads(tmp_path):
    model, step = _problem()
    res = fit(model, step, steps=200, key="k", lr=0.05, progress=False)
    assert not res.cached and res.history[-1]["loss"] < 0.01 * res.history[0]["loss"]
    again, _ = _problem()
    cached = fit(again, step, steps=200, key="k", lr=0.05, progress=False)
    assert cached.cached and torch.equal(again.weight, model.weight)


def test_resume_after_interrupt_equals_a_straight_run():
    straight, step = _problem()
    fit(straight, step, steps=50, key="straight", lr=0.05, progress=False)
    model, _ = _problem()

    def interrupted(net, g, i):
        if i == 20:
            raise KeyboardInterrupt
        return step(net, g, i)

    with pytest.raises(KeyboardInterrupt):
        fit(model, interrupted, steps=50, key="resumed", lr=0.05, progress=False)
    model, _ = _problem()  # a new process: fresh weights, state from the checkpoint
    res = fit(model, step, steps=50, key="resumed", lr=0.05, progress=False)
    assert len(res.history) == 50
    assert torch.equal(model.weight, straight.weight)


def test_step_generator_is_a_pure_function_of_seed_and_step():
    a = torch.randn(3, generator=step_generator(1, 7))
    assert torch.equal(a, torch.randn(3, generator=step_generator(1, 7)))
    assert not torch.equal(a, torch.randn(3, generator=step_generator(1, 8)))
    assert not torch.equal(a, torch.randn(3, generator=step_generator(2, 7)))


def test_cache_key_changes_with_config_and_data():
    k = cache_key({"lr": 1e-3}, "data-a")
    assert k == cache_key({"lr": 1e-3}, "data-a")
    assert k != cache_key({"lr": 1e-3}, "data-b") and k != cache_key({"lr": 2e-3}, "data-a")


def test_diverging_loss_is_reported():
    model, _ = _problem()
    with pytest.raises(FloatingPointError, match="loss is nan at step 0"):
        fit(model, lambda net, g, i: {"loss": net(torch.full((1, 4), float("nan"))).sum()}, steps=3, key="nan",
            progress=False)


def test_damaged_checkpoint_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "bad.pt").write_bytes(b"not a checkpoint")
    model, step = _problem()
    with pytest.raises(ValueError, match="bad.pt: damaged training checkpoint"):
        fit(model, step, steps=3, key="bad", progress=False)
