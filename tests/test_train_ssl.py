"""SSL training recipes: every method trains a few steps, controls behave, the cache and the
evaluation work, and data-parallel training on 2 CPU processes gives one process's loss and update."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ai4m_kit.train.ssl import METHODS, SSLConfig, evaluate, knn_top1, linear_probe, train_ssl

TINY = SSLConfig(width=4, hidden=32, emb=8, batch=32, w_size=16, steps=6, warmup=2)


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(96, 1, 12, 12, generator=g) * 255).to(torch.uint8)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_logs(method, images):
    res = train_ssl(method, images, TINY, progress=False)
    if method == "random":
        assert res.history == []
        return
    assert len(res.history) == TINY.steps or res.diverged_at is not None
    assert "effective_rank" in res.history[0]
    again = train_ssl(method, images, TINY, progress=False)
    assert again.cached


def test_byol_target_follows_the_online_network_by_ema(images):
    res = train_ssl("byol", images, TINY, progress=False)
    online = torch.cat([p.flatten() for p in res.model.encoder.parameters()])
    target = torch.cat([p.flatten() for p in res.model.target["encoder"].parameters()])
    assert not torch.equal(online, target) and torch.isfinite(target).all()


def test_bad_input(images):
    with pytest.raises(ValueError, match="method must be one of"):
        train_ssl("mocov3", images, TINY, progress=False)
    with pytest.raises(ValueError, match="fewer than one batch of 32"):
        train_ssl("wmse2", images[:10], TINY, progress=False)


def test_probes_on_separable_features():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    x = rng.normal(size=(120, 4)) + np.eye(3, 4)[y] * 6
    assert linear_probe(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    assert knn_top1(x[::2], y[::2], x[1::2], y[1::2]) == 1.0


def test_evaluate_returns_both_probes(images):
    model = train_ssl("random", images, TINY, progress=False).model
    labels = torch.arange(96) % 3
    ev = evaluate(model, images[:64], labels[:64], images[64:], labels[64:])
    assert set(ev) == {"linear", "knn"} and all(0 <= v <= 1 for v in ev.values())


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    from torch import nn
    from ai4m_kit.ssl import wmse_loss, gather
    from ai4m_kit.train.ddp import exit_worker, init_from_env, local_slice

    rank, world = init_from_env("gloo")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 6))  # no BatchNorm: same maths
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    views = torch.randn(2, 32, 10, generator=g)                 # the global batch, drawn alike everywhere
    local = local_slice(views.transpose(0, 1)).transpose(0, 1)
    z = torch.stack([gather(net(v)) for v in local])
    loss = wmse_loss(z, w_size=16, generator=torch.Generator().manual_seed(2))
    opt.zero_grad(); loss.backward(); opt.step()
    if rank == 0:
        w = torch.cat([p.detach().flatten() for p in model.parameters()])
        torch.save({"loss": loss.item(), "w": w}, sys.argv[1])
    exit_worker(0)
""")


def test_ddp_on_two_cpu_processes_equals_one_process(tmp_path):
    script = tmp_path / "ddp_step.py"
    script.write_text(DDP_SCRIPT)
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    subprocess.run([sys.executable, str(script), str(one)], check=True, capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    out = subprocess.run(torchrun + [str(script), str(two)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    a, b = torch.load(one), torch.load(two)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    assert torch.allclose(a["w"], b["w"], atol=1e-6)


def test_cli_ssl_train_and_eval(tmp_path, capsys):
    from ai4m_kit.cli import main

    ckpt = tmp_path / "w.pt"
    assert main(["ssl", "train", "--method", "wmse2", "--data", "digits", "--profile", "smoke", "--steps", "3",
                 "--out", str(ckpt), "--no-progress"]) == 0
    assert "wmse2 on digits" in capsys.readouterr().out
    assert main(["ssl", "eval", str(ckpt)]) == 0
    assert "linear" in capsys.readouterr().out
    theirs = tmp_path / "theirs.pt"
    theirs.write_bytes(b"not ours")
    assert main(["ssl", "train", "--data", "digits", "--profile", "smoke", "--steps", "3", "--out", str(theirs)]) == 1
    assert "not written by ai4m ssl train" in capsys.readouterr().err and theirs.read_bytes() == b"not ours"
    assert main(["ssl", "eval", str(theirs)]) == 1
    assert main(["ssl", "train", "--data", "no-such-set", "--out", str(tmp_path / "x.pt")]) == 1
    assert "neither an offline set" in capsys.readouterr().err
