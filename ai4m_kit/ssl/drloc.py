"""DRLoc: the dense relative localisation loss (Liu et al., NeurIPS 2021; the report's §4.2).

From the final ``k × k`` grid of embeddings of a backbone, ``m`` pairs of cells are drawn per image,
uniformly and with replacement (the same cell may be drawn twice, as in the authors' code); an MLP
sees the two embeddings concatenated (``2C → hidden → hidden → 2``) and predicts their offset. The
loss is the L1 distance to the target, averaged over pairs, images and both axes. Targets:

- ``"abs"``: ``(|i₁ − i₂|, |j₁ − j₂|)`` in cells, what the authors' code trains on (they confirmed
  the unnormalised form was deliberate);
- ``"signed"``: ``(i₁ − i₂, j₁ − j₂)`` in cells;
- ``"normalised"``: ``(i₁ − i₂, j₁ − j₂) / k``, the paper's equation.

It is added to the cross-entropy with weight λ, which the authors ramp up from 0 and then decay
linearly (:func:`lambda_at`). Works on any ``(B, C, k, k)`` map and so on any backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TARGETS = ("abs", "signed", "normalised")
REDUCTIONS = ("l1", "smooth-l1", "l2")


def check_grid(grid: torch.Tensor) -> int:
    """Return ``k`` of a ``(B, C, k, k)`` grid, or raise a ValueError naming the shape."""
    if not torch.is_tensor(grid) or grid.ndim != 4 or grid.shape[-1] != grid.shape[-2] or grid.shape[-1] < 1:
        shape = tuple(grid.shape) if torch.is_tensor(grid) else type(grid).__name__
        raise ValueError(f"grid must be a square (B, C, k, k) map; got {shape}")
    return int(grid.shape[-1])


def sample_pairs(batch: int, k: int, m: int, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``m`` pairs of cells per image, uniformly over the ``k × k`` grid, with replacement.

    Returns:
        ``(first, second)``, each ``(batch, m, 2)`` int64 ``(row, column)`` cell indices. The draws
        come from ``generator`` (on its device), four ``randint`` calls: rows and columns of the
        first cells, then of the second.

    Example:
        >>> a, b = sample_pairs(2, 7, 64, torch.Generator().manual_seed(0))
        >>> a.shape, int(a.min()) >= 0, int(b.max()) <= 6
        (torch.Size([2, 64, 2]), True, True)
    """
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"m (pairs per image) must be an int >= 1; got {m!r}")
    if k < 1 or batch < 0:
        raise ValueError(f"k must be >= 1 and batch >= 0; got k={k}, batch={batch}")
    gdev = generator.device if generator is not None else "cpu"
    draws = [torch.randint(k, (batch, m), generator=generator, device=gdev) for _ in range(4)]
    first = torch.stack(draws[:2], dim=-1).to(device)
    second = torch.stack(draws[2:], dim=-1).to(device)
    return first, second


def pair_targets(first: torch.Tensor, second: torch.Tensor, k: int, target: str = "abs") -> torch.Tensor:
    """The offset to predict for each pair, ``(..., 2)`` float: see the module docstring.

    Example:
        >>> a, b = torch.tensor([[0, 6]]), torch.tensor([[3, 1]])
        >>> [pair_targets(a, b, 7, t).tolist() for t in TARGETS]
        [[[3.0, 5.0]], [[-3.0, 5.0]], [[-0.4285714328289032, 0.7142857313156128]]]
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}; got {target!r}")
    delta = (first - second).to(torch.float32)
    if target == "abs":
        return delta.abs()
    if target == "signed":
        return delta
    return delta / k


class DRLocHead(nn.Module):
    """The localisation MLP: concatenated pair embeddings ``(..., 2C)`` → ``hidden`` → ``hidden`` → 2.

    Example:
        >>> DRLocHead(8, hidden=16)(torch.zeros(3, 5, 16)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, channels: int, hidden: int = 512) -> None:
        super().__init__()
        if channels < 1 or hidden < 1:
            raise ValueError(f"channels and hidden must be >= 1; got {channels}, {hidden}")
        self.channels, self.hidden = channels, hidden
        self.mlp = nn.Sequential(nn.Linear(2 * channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.mlp(pairs)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, hidden={self.hidden}"


def pair_embeddings(grid: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The concatenated embeddings ``(B, m, 2C)`` of the pairs' cells of ``grid`` ``(B, C, k, k)``."""
    k = check_grid(grid)
    b, c = grid.shape[:2]
    flat = grid.flatten(2).transpose(1, 2)  # (B, k·k, C)
    rows = torch.arange(b, device=grid.device)[:, None]
    e1 = flat[rows, first[..., 0] * k + first[..., 1]]
    e2 = flat[rows, second[..., 0] * k + second[..., 1]]
    return torch.cat([e1, e2], dim=-1)


def drloc_loss(grid: torch.Tensor, head: nn.Module, m: int = 64, *, target: str = "abs", reduction: str = "l1",
               generator: torch.Generator | None = None, return_pairs: bool = False):
    """DRLoc on a ``(B, C, k, k)`` grid: mean L1 between the head's predicted offsets and the targets.

    Args:
        grid: the backbone's final token grid (square).
        head: a :class:`DRLocHead` (or any ``(..., 2C) → (..., 2)`` module).
        m: pairs per image (the report's 64), drawn with replacement.
        target: ``"abs"`` (the authors' code), ``"signed"`` or ``"normalised"`` (the paper).
        reduction: ``"l1"`` (the authors' default), ``"smooth-l1"`` or ``"l2"`` (mean squared error).
        generator: the draws of the pairs.
        return_pairs: also return ``(prediction, target)``, each ``(B, m, 2)``.

    Example:
        >>> g = torch.zeros(2, 4, 5, 5); head = DRLocHead(4, hidden=8)
        >>> float(drloc_loss(g, head, 16, generator=torch.Generator().manual_seed(0)).detach()) >= 0
        True
    """
    k = check_grid(grid)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")
    first, second = sample_pairs(grid.shape[0], k, m, generator, grid.device)
    pred = head(pair_embeddings(grid, first, second))
    tgt = pair_targets(first, second, k, target).to(pred.dtype)
    if reduction == "l1":
        loss = F.l1_loss(pred, tgt)
    elif reduction == "smooth-l1":
        loss = F.smooth_l1_loss(pred, tgt)
    else:
        loss = F.mse_loss(pred, tgt)
    return (loss, pred, tgt) if return_pairs else loss


def constant_predictor_loss(k: int, target: str = "abs") -> float:
    """The L1 DRLoc loss of the best constant prediction (the per-axis median offset) for pairs drawn
    uniformly with replacement on a ``k × k`` grid: a head that has learned nothing about position
    scores this; below it, the grid carries where each token lies.

    Example:
        >>> round(constant_predictor_loss(7, "abs"), 4), round(constant_predictor_loss(7, "signed"), 4)
        (1.3469, 2.2857)
    """
    d = pair_targets(torch.arange(k)[:, None, None], torch.arange(k)[None, :, None], k, target).flatten()
    return float((d - d.median()).abs().mean())


def lambda_at(progress: float, lam: float, *, warmup: float = 0.2, final: float = 0.0) -> float:
    """λ at a fraction ``progress`` ∈ [0, 1] of training: linear ramp from 0 to ``lam`` over the
    first ``warmup`` of training, then linear decay to ``final · lam`` at the end.

    The authors ramp over 20 epochs (of 100 to 300) and then decay; a fraction makes the same shape
    for any length. ``warmup=0`` starts at ``lam``.

    Example:
        >>> [round(lambda_at(p, 0.5, warmup=0.2), 3) for p in (0.0, 0.1, 0.2, 0.6, 1.0)]
        [0.0, 0.25, 0.5, 0.25, 0.0]
    """
    if lam < 0:
        raise ValueError(f"lambda must be >= 0; got {lam}")
    if not 0 <= warmup <= 1 or not 0 <= final <= 1:
        raise ValueError(f"warmup and final must lie in [0, 1]; got {warmup}, {final}")
    p = min(max(float(progress), 0.0), 1.0)
    if p < warmup:
        return lam * p / warmup
    if warmup >= 1:
        return lam
    return lam * (1.0 - (1.0 - final) * (p - warmup) / (1.0 - warmup))
