"""SSL losses: W-MSE (Cholesky, ZCA, the no-whitening control), NT-Xent, BYOL, the whitened contrastive
variants, gather, collapse diagnostics, input errors and the benchmark's smoke run."""

import math
import os
import socket

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ai4m_kit.bench.ssl import official_wmse_loss
from ai4m_kit.cli import main
from ai4m_kit.ssl import (
    byol_loss,
    collapse_diagnostics,
    contrastive_on_whitened,
    effective_rank,
    ema_momentum,
    ema_update,
    gather,
    nt_xent_loss,
    nt_xent_views,
    whiten,
    wmse_loss,
)
from ai4m_kit.ssl.wmse import whiten_sub_batches


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _views(d=2, batch=64, dim=8, dtype=torch.float64, seed=0, noise=0.3):
    g = _gen(seed)
    base = torch.randn(batch, dim, generator=g, dtype=dtype)
    return [base + noise * torch.randn(batch, dim, generator=g, dtype=dtype) for _ in range(d)]


# ------------------------------------------------------------------------------------------ W-MSE


def _wmse_by_hand(views, w_size, perm):
    """W-MSE written out: per view and sub-batch, covariance (n-1), L = chol, z = L^-1 (x - mean)."""
    d, batch = len(views), views[0].shape[0]
    zs = []
    for v in views:
        z = torch.empty_like(v)
        for idx in perm.view(-1, w_size):
            xc = v[idx] - v[idx].mean(0)
            L = torch.linalg.cholesky(xc.T @ xc / (w_size - 1))
            z[idx] = torch.linalg.inv(L).matmul(xc.T).T
        zs.append(F.normalize(z, dim=1))
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    return sum(2 - 2 * (zs[i] * zs[j]).sum(1).mean() for i, j in pairs) / len(pairs)


@pytest.mark.parametrize("d", [2, 3])
def test_wmse_matches_the_formula_written_out(d):
    views = _views(d=d, batch=96, dim=6)
    perm = torch.randperm(96, generator=_gen(5))
    ours = wmse_loss(views, w_size=32, generator=_gen(5))
    assert torch.allclose(ours, _wmse_by_hand(views, 32, perm), rtol=1e-10, atol=1e-12)


def test_wmse_matches_the_official_formulation_and_stacked_forms_agree():
    views = _views(d=2, batch=128, dim=8)
    h = torch.cat(views)
    ours = wmse_loss(h, num_views=2, w_size=32, generator=_gen(3))
    official = official_wmse_loss(h, 2, 32, _gen(3))
    assert torch.allclose(ours, official, rtol=1e-10)
    assert torch.equal(wmse_loss(torch.stack(views), w_size=32, generator=_gen(3)), ours)
    assert torch.equal(wmse_loss(views, w_size=32, generator=_gen(3)), ours)


def test_w_iter_averages_independent_permutations():
    views = _views(batch=64, dim=4)
    g = _gen(7)
    one = [wmse_loss(views, w_size=16, generator=g) for _ in range(3)]
    three = wmse_loss(views, w_size=16, w_iter=3, generator=_gen(7))
    assert torch.allclose(three, sum(one) / 3, rtol=1e-12)
    assert len({round(v.item(), 10) for v in one}) == 3  # the permutations differ


@pytest.mark.parametrize("method,joint", [("cholesky", False), ("zca", False), ("cholesky", True), ("zca", True)])
def test_whitened_sub_batches_have_identity_covariance(method, joint):
    x = torch.stack(_views(d=2, batch=96, dim=8, noise=1.0)) * torch.linspace(0.1, 10, 8, dtype=torch.float64)
    w_size = 32
    z = whiten_sub_batches(x, w_size=w_size, method=method, joint=joint, generator=_gen(1))
    groups = z.reshape(2, 3, w_size, 8)
    if joint:
        groups = groups.transpose(0, 1).reshape(3, 2 * w_size, 8)
    n = groups.shape[-2]
    assert torch.allclose(groups.mean(-2), torch.zeros(()).double(), atol=1e-10)
    cov = groups.mT @ groups / (n - 1)
    assert (cov - torch.eye(8, dtype=torch.float64)).abs().max() < 1e-4
    if not joint:  # each view whitened on its own: not one joint whitening of both views' rows
        both = torch.cat([groups[0, 0], groups[1, 0]])
        assert (both.T @ both / (2 * w_size - 1) - torch.eye(8, dtype=torch.float64)).abs().max() > 1e-3


def test_whiten_shrinkage_and_none():
    x = torch.randn(40, 5, generator=_gen(2), dtype=torch.float64)
    assert whiten(x, "none") is x
    z = whiten(x, "cholesky", eps=0.5)
    xc = x - x.mean(0)
    S = 0.5 * (xc.T @ xc / 39) + 0.5 * torch.eye(5, dtype=torch.float64)
    l_inv = torch.linalg.cholesky(S).inverse()  # z = L^-1 xc with L L^T = (1 - eps) C + eps I
    assert torch.allclose(z, xc @ l_inv.T)
    assert not torch.allclose(z.T @ z / 39, torch.eye(5, dtype=torch.float64), atol=1e-3)
    zz = whiten(x, "zca")
    assert torch.allclose(zz.T @ zz / 39, torch.eye(5, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(zz.T @ xc, (zz.T @ xc).T, atol=1e-10)  # ZCA: the symmetric whitening matrix


@pytest.mark.parametrize("method", ["cholesky", "zca"])
def test_wmse_finite_positive_and_gradients_reach_every_view(method):
    g = _gen(4)
    inputs = [torch.randn(128, 16, generator=g, requires_grad=True) for _ in range(3)]
    proj = nn.Linear(16, 12)
    loss = wmse_loss([proj(x) for x in inputs], w_size=64, whitening=method, generator=g)
    assert torch.isfinite(loss) and 0 < loss.item() < 4
    loss.backward()
    for x in inputs:
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_gradient_flows_through_the_whitening():
    """The Cholesky backward is used: the gradient differs from one through a detached whitening."""
    views = [v.float().requires_grad_(True) for v in _views(batch=64, dim=4)]
    wmse_loss(views, w_size=32, generator=_gen(0)).backward()
    full = views[0].grad.clone()
    # the same loss with the whitening matrices held constant
    x = torch.stack([v.detach() for v in views]).requires_grad_(True)
    perm = torch.randperm(64, generator=_gen(0))
    groups = x[:, perm].reshape(2, 2, 32, 4)
    xc = groups - groups.mean(-2, keepdim=True)
    L = torch.linalg.cholesky((xc.mT @ xc / 31).detach())
    z = F.normalize(torch.linalg.solve_triangular(L.mT, xc, upper=True, left=False), dim=-1)
    (2 - 2 * (z[0] * z[1]).sum(-1).mean()).backward()
    assert not torch.allclose(full, x.grad[0], atol=1e-6)


def _train(loss_fn, steps=30, lr=1e-2, seed=0, dim_out=8):
    torch.manual_seed(seed)
    g = _gen(seed)
    x = torch.randn(64, 16, generator=g)
    v1 = x + 0.3 * torch.randn(x.shape, generator=g)
    v2 = x + 0.3 * torch.randn(x.shape, generator=g)
    proj = nn.Linear(16, dim_out)
    opt = torch.optim.Adam(proj.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(proj(v1), proj(v2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name,fn", [
    ("wmse", lambda a, b: wmse_loss([a, b], w_size=64)),
    ("wmse-zca", lambda a, b: wmse_loss([a, b], w_size=64, whitening="zca")),
    ("nt_xent", lambda a, b: nt_xent_loss(a, b)),
    ("byol", lambda a, b: byol_loss(a, b) + byol_loss(b, a)),
])
def test_each_loss_decreases_in_a_few_steps(name, fn):
    losses = _train(fn)
    assert losses[-1] < 0.95 * losses[0], (name, losses[0], losses[-1])


def test_no_whitening_control_collapses_and_wmse_does_not():
    def train(method):
        torch.manual_seed(0)
        g = _gen(0)
        data = torch.randn(1024, 32, generator=g)
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(40):
            x = data[torch.randint(0, 1024, (128,), generator=g)]
            v1 = x + 0.5 * torch.randn(x.shape, generator=g)
            v2 = x * (1 + 0.2 * torch.randn(x.shape, generator=g))
            loss = wmse_loss([model(v1), model(v2)], w_size=64, whitening=method, generator=g)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return collapse_diagnostics(model(data)), loss.item()

    control, control_loss = train("none")
    white, white_loss = train("cholesky")
    assert control["collapsed"] and control["effective_rank"] < 2 and control_loss < 0.01
    assert not white["collapsed"] and white["effective_rank"] > 10
    assert white["mean_std"] > 0.5 * white["std_reference"]


# --------------------------------------------------------------------------------- W-MSE errors


def test_wmse_input_errors():
    v = [torch.randn(128, 64), torch.randn(128, 64)]
    with pytest.raises(ValueError, match=r"w_size must exceed the embedding dimension D .*w_size=64, D=64"):
        wmse_loss(v, w_size=64)
    with pytest.raises(ValueError, match=r"batch is smaller than w_size: B=128, w_size=256"):
        wmse_loss(v, w_size=256)
    with pytest.raises(ValueError, match=r"B=192 must be a multiple of w_size=128"):
        wmse_loss([torch.randn(192, 8)] * 2, w_size=128)
    with pytest.raises(ValueError, match=r"same shape \(B, D\); got \[\(128, 64\), \(128, 32\)\]"):
        wmse_loss([v[0], torch.randn(128, 32)], w_size=128)
    with pytest.raises(ValueError, match="at least 2 views; got 1"):
        wmse_loss([v[0]])
    with pytest.raises(ValueError, match="non-finite"):
        wmse_loss([v[0], v[1].clone().fill_(float("nan"))], w_size=128)
    with pytest.raises(ValueError, match=r"rows must split into num_views=3"):
        wmse_loss(torch.randn(256, 8), num_views=3, w_size=32)
    with pytest.raises(ValueError, match="need num_views"):
        wmse_loss(torch.randn(256, 8), w_size=32)
    with pytest.raises(ValueError, match="whitening must be one of"):
        wmse_loss(v, w_size=128, whitening="pca")


def test_cholesky_failure_names_w_size_d_and_eps():
    g = _gen(0)
    low_rank = torch.randn(128, 3, generator=g) @ torch.randn(3, 16, generator=g)  # rank 3 in D = 16
    views = [low_rank, low_rank + 1e-3 * torch.randn(128, 16, generator=g)]
    with pytest.raises(ValueError, match=r"Cholesky whitening failed.*w_size=64, D=16, eps=0.*eps > 0 or a larger w_size"):
        wmse_loss(views, w_size=64, generator=g)
    assert torch.isfinite(wmse_loss(views, w_size=64, eps=0.1, generator=g))


# ------------------------------------------------------------------------------------ NT-Xent


def _nt_xent_by_hand(z1, z2, t):
    """Cross entropy over the 2B x 2B similarity matrix, self-similarity removed by hand."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n, b = z.shape[0], z1.shape[0]
    total = 0.0
    for i in range(n):
        sims = torch.stack([z[i] @ z[k] / t for k in range(n) if k != i])
        pos = (i + b) % n
        pos_col = pos if pos < i else pos - 1
        total = total - torch.log_softmax(sims, 0)[pos_col]
    return total / n


def test_nt_xent_equals_a_straightforward_implementation():
    g = _gen(1)
    z1, z2 = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    for t in (0.1, 0.5, 1.0):
        assert torch.allclose(nt_xent_loss(z1, z2, t), _nt_xent_by_hand(z1, z2, t), rtol=1e-12)
    # perfect positives, orthogonal negatives: the loss is small at a low temperature
    eye = torch.eye(4, dtype=torch.float64)
    expected = -math.log(math.exp(10) / (math.exp(10) + 6))
    assert math.isclose(nt_xent_loss(eye[:4], eye[:4] * 3, 0.1).item(), expected, rel_tol=1e-12)


def test_nt_xent_views_average_pairs_and_errors():
    v = [torch.randn(8, 4, generator=_gen(i)) for i in range(3)]
    pairs = [nt_xent_loss(v[0], v[1]), nt_xent_loss(v[0], v[2]), nt_xent_loss(v[1], v[2])]
    assert torch.allclose(nt_xent_views(v), sum(pairs) / 3)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent_loss(v[0], torch.randn(8, 3))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        nt_xent_loss(v[0], v[1], 0.0)


# -------------------------------------------------------------------------------- whitened NT-Xent


def test_contrastive_on_whitened_is_nt_xent_of_the_whitened_views_unclamped():
    views = torch.stack(_views(batch=64, dim=4)).float()
    for l2 in (True, False):
        got = contrastive_on_whitened(views, 32, l2=l2, temperature=0.5, generator=_gen(2))
        z = whiten_sub_batches(views, w_size=32, generator=_gen(2))
        assert torch.allclose(got, nt_xent_loss(z[0], z[1], 0.5, normalize=l2))
    # without L2 the logits are raw dot products of whitened vectors (norm about sqrt(D)): larger loss scale
    assert contrastive_on_whitened(views, 32, l2=False, temperature=0.01, generator=_gen(2)) > 10


@pytest.mark.parametrize("l2", [True, False])
def test_contrastive_on_whitened_trains_without_crashing(l2):
    """Values are returned as they come, finite or not (the report saw divergence)."""
    torch.manual_seed(0)
    g = _gen(0)
    x = torch.randn(64, 16, generator=g)
    proj = nn.Linear(16, 8)
    opt = torch.optim.Adam(proj.parameters(), lr=0.1)
    seen = []
    for _ in range(10):
        v = [proj(x + 0.3 * torch.randn(x.shape, generator=g)) for _ in range(2)]
        try:
            loss = contrastive_on_whitened(v, 32, l2=l2, generator=g)
        except ValueError as err:  # a non-finite projection after divergence is refused at the input
            assert "non-finite" in str(err)
            break
        seen.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert seen and all(isinstance(s, float) for s in seen)


# ----------------------------------------------------------------------------------------- BYOL


def test_byol_loss_detaches_the_target():
    p = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 3, requires_grad=True)
    loss = byol_loss(p, t)
    loss.backward()
    assert t.grad is None and p.grad.abs().sum() > 0
    expected = (2 - 2 * F.cosine_similarity(p, t, dim=1)).mean()
    assert torch.allclose(loss, expected)
    assert byol_loss(t, t).abs().item() < 1e-6


def test_ema_momentum_schedule():
    assert ema_momentum(0, 1000) == 0.99
    assert math.isclose(ema_momentum(500, 1000), 0.995, rel_tol=1e-12)
    assert ema_momentum(1000, 1000) == 1.0
    assert math.isclose(ema_momentum(250, 1000, base=0.996), 1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2)
    vals = [ema_momentum(k, 100) for k in range(101)]
    assert all(a <= b for a, b in zip(vals, vals[1:]))
    with pytest.raises(ValueError, match="step must be in"):
        ema_momentum(101, 100)


def test_ema_update_math():
    torch.manual_seed(0)
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    ema_update(target, online, 0.9)
    for name, param in target.named_parameters():
        assert torch.allclose(param, 0.9 * before[name] + 0.1 * dict(online.named_parameters())[name])
        assert not param.requires_grad or param.grad is None
    ema_update(target, online, 0.0)
    assert torch.equal(target.weight, online.weight)
    with pytest.raises(ValueError, match="different parameters"):
        ema_update(nn.Linear(3, 2, bias=False), online, 0.5)


# --------------------------------------------------------------------------------------- gather


def test_gather_is_identity_without_distributed():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather(x) is x


def _gather_worker(rank, world, port, out):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        x = torch.full((2, 3), float(rank + 1), requires_grad=True)
        y = gather(x)
        weights = torch.arange(y.numel(), dtype=torch.float32).reshape(y.shape)
        (y * weights * (rank + 1)).sum().backward()
        torch.save({"y": y.detach(), "grad": x.grad}, os.path.join(out, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_gather_across_two_processes_keeps_the_local_gradient(tmp_path):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_gather_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    weights = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    for rank in range(2):
        r = torch.load(tmp_path / f"{rank}.pt")
        assert torch.equal(r["y"], torch.cat([torch.full((2, 3), 1.0), torch.full((2, 3), 2.0)]))
        # d(sum over ranks of loss_r)/dx_rank: the weights of its rows, times (1 + 2)
        assert torch.equal(r["grad"], 3 * weights[2 * rank:2 * rank + 2])


# ---------------------------------------------------------------------------------- diagnostics


def test_effective_rank_and_collapse_rule():
    assert math.isclose(effective_rank(torch.tensor([2.0, 2.0, 0.0, -1e-12])), 2.0)
    g = _gen(0)
    healthy = collapse_diagnostics(torch.randn(2000, 32, generator=g))
    assert not healthy["collapsed"] and healthy["effective_rank"] > 30
    assert abs(healthy["mean_std"] - healthy["std_reference"]) < 0.1 * healthy["std_reference"]
    assert healthy["eigenvalues"].dtype == torch.float64 and healthy["eigenvalues"][0] >= healthy["eigenvalues"][-1]
    line = torch.randn(2000, 1, generator=g) @ torch.randn(1, 32, generator=g)
    d = collapse_diagnostics(line + 1e-4 * torch.randn(2000, 32, generator=g))
    assert d["collapsed"] and d["effective_rank"] < 1.1
    point = collapse_diagnostics(torch.ones(100, 32) + 1e-3 * torch.randn(100, 32, generator=g))
    assert point["collapsed"] and point["mean_std"] < 0.1 / math.sqrt(32)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        collapse_diagnostics(torch.ones(5))


# ------------------------------------------------------------------------------------ benchmark


def test_bench_ssl_prints_the_ratio(capsys):
    assert main(["bench", "ssl", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "ratio ours/official at w_size=128, D=64, 1 thread(s):" in out
    assert "loss rel. diff" in out
