"""``ai4m bench ssl``: the whitening of one W-MSE step, ours against the official formulation.

Both compute the W-MSE loss of ``d`` views (default 2 views of a batch of 256, embedding dimension
64, sub-batches of 128: the official CIFAR settings) and its backward pass to the embeddings, with
the same permutation, and must agree to rounding (printed). The baseline follows the official code
(github.com/htdt/self-supervised, ``methods/whitening.py``; written here, not copied): a Python loop
over sub-batches and views, each whitened by its own call that forms ``L⁻¹`` with a triangular solve
against the identity and applies it with a 1×1 convolution, then ``2 − 2 cos`` per pair of views.
Ours (:func:`ai4m_kit.ssl.wmse_loss`) whitens every sub-batch of every view in one batched
Cholesky and one triangular solve with the rows as right-hand sides. The target: ours no slower.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ai4m_kit.ssl.wmse import wmse_loss
from ai4m_kit.timing import interleaved_medians, ratios, set_threads, synchronize


def official_whitening(x: torch.Tensor) -> torch.Tensor:
    """The official W-MSE whitening of one sub-batch ``(n, D)`` (eps 0): ``L⁻¹`` applied by a 1×1 conv."""
    n, dim = x.shape
    xn = x - x.mean(dim=0, keepdim=True)
    cov = xn.T @ xn / (n - 1)
    eye = torch.eye(dim, dtype=x.dtype, device=x.device)
    inv_l = torch.linalg.solve_triangular(torch.linalg.cholesky(cov), eye, upper=False)
    return F.conv2d(xn[:, :, None, None], inv_l[:, :, None, None])[:, :, 0, 0]


def official_wmse_loss(h: torch.Tensor, num_views: int, w_size: int, generator: torch.Generator) -> torch.Tensor:
    """W-MSE as the official training step computes it from the concatenated views ``h`` ``(d·B, D)``."""
    bs = h.shape[0] // num_views
    z = torch.empty_like(h)
    perm = torch.randperm(bs, generator=generator).view(-1, w_size)
    for idx in perm:
        for i in range(num_views):
            z[idx + i * bs] = official_whitening(h[idx + i * bs])
    loss = h.new_zeros(())
    for i in range(num_views - 1):
        for j in range(i + 1, num_views):
            a = F.normalize(z[i * bs:(i + 1) * bs])
            b = F.normalize(z[j * bs:(j + 1) * bs])
            loss = loss + 2 - 2 * (a * b).sum(dim=-1).mean()
    return loss / (num_views * (num_views - 1) // 2)


def run(args: argparse.Namespace) -> int:
    """Time ours and the official formulation (forward + backward) and print the ratio. Returns 0."""
    threads = set_threads(args.threads)
    device = torch.device(args.device)
    d, batch, w_size, dim = args.views, args.batch, args.w_size, args.dim
    h = torch.randn(d * batch, dim, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_(True)

    def ours(seed: int = 1) -> tuple[float, torch.Tensor]:
        h.grad = None
        loss = wmse_loss(h, num_views=d, w_size=w_size, generator=torch.Generator().manual_seed(seed))
        loss.backward()
        return loss.item(), h.grad

    def official(seed: int = 1) -> tuple[float, torch.Tensor]:
        h.grad = None
        loss = official_wmse_loss(h, d, w_size, torch.Generator().manual_seed(seed))
        loss.backward()
        return loss.item(), h.grad

    loss_o, grad_o = ours()
    grad_o = grad_o.clone()
    loss_b, grad_b = official()
    agree = abs(loss_o - loss_b) / max(abs(loss_b), 1e-12)
    grad_diff = ((grad_o - grad_b).norm() / grad_b.norm()).item()
    print(f"ai4m bench ssl: W-MSE whitening step, d={d} views x B={batch}, D={dim}, w_size={w_size} "
          f"({batch // w_size} sub-batches per view), float32, forward+backward, torch {torch.__version__}, "
          f"{threads} thread(s), device {device}, median of {args.repeats} interleaved rounds")
    print(f"agreement with the official formulation: loss rel. diff {agree:.1e}, gradient rel. diff {grad_diff:.1e}")
    t = interleaved_medians({"official": official, "ours": ours}, repeats=args.repeats, device=device)
    synchronize(device)
    r = ratios(t, "official")
    print(f"{'official (loop, L^-1 + 1x1 conv)':<36} {t['official'] * 1e3:>8.3f} ms")
    print(f"{'ours (batched Cholesky + solve)':<36} {t['ours'] * 1e3:>8.3f} ms")
    met = r["ours"] <= 1
    print(f"ratio ours/official at w_size={w_size}, D={dim}, {threads} thread(s): {r['ours']:.2f} "
          f"(target: no slower, <= 1) -> target {'met' if met else 'NOT met'}")
    return 0
