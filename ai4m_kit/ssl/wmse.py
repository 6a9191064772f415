"""W-MSE: the whitening mean-squared-error loss of Ermolov et al. (ICML 2021), AI4Media report §4.1.

The embeddings of ``d`` augmented views of the same ``B`` images are whitened in sub-batches of
``w_size`` rows, L2-normalised, and pulled together with ``2 − 2 cos`` over every pair of views.
Whitening (identity covariance in every sub-batch) is what prevents the collapse to a constant
that the same loss without it (``whitening="none"``) runs into.

How this follows the official implementation (github.com/htdt/self-supervised, ``methods/w_mse.py``
and ``methods/whitening.py``):

- per ``w_iter`` iteration, one random permutation of the ``B`` images is split into ``B / w_size``
  sub-batches; the official code reshapes the permutation to ``(-1, w_size)``, so ``B`` must be a
  multiple of ``w_size`` (we raise a one-line error instead of its reshape error);
- each view's sub-batch is whitened **on its own** (the same image indices for every view, but one
  whitening matrix per view and sub-batch, not one over the ``d · w_size`` rows of all views);
  ``joint=True`` whitens the ``d · w_size`` rows together instead (not the official choice);
- Cholesky whitening: centre on the sub-batch mean, covariance with ``n − 1``, shrink as
  ``(1 − eps)·C + eps·I`` (``eps = 0`` by default, as the official ``Whitening2d``), ``W = L⁻¹``
  with ``C = L Lᵀ``; the official code forms ``L⁻¹`` (``triangular_solve`` of the identity) and
  applies it with a 1×1 convolution; we solve ``L zᵢ = xᵢ − μ`` for all rows at once, which is the
  same map to rounding and cheaper (``ai4m bench ssl`` times both);
- the loss: ``2 − 2 cos`` averaged over the ``B`` images, summed over the ``d(d−1)/2`` pairs of
  views, divided by ``w_iter · d(d−1)/2``; gradients flow into every view and through the whitening
  (solo-learn's port detaches the second view, which this does not do).

Cholesky needs a positive definite covariance: ``w_size`` must exceed ``D``, and about ``2·D`` is
recommended (the official settings: ``D = 64``, ``w_size = 128`` on CIFAR).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["WHITENINGS", "stack_views", "whiten", "whiten_sub_batches", "wmse_loss"]

WHITENINGS = ("cholesky", "zca", "none")


def _check_method(method: str) -> None:
    if method not in WHITENINGS:
        raise ValueError(f"whitening must be one of {WHITENINGS}; got {method!r}")


def whiten(x: torch.Tensor, method: str = "cholesky", eps: float = 0.0) -> torch.Tensor:
    """Whiten each sub-batch ``x`` shaped ``(..., n, D)``: rows are samples, the leading dims a batch.

    ``"cholesky"``: ``z = L⁻¹ (x − μ)`` with ``L Lᵀ = (1 − eps)·C + eps·I`` and ``C`` the covariance
    with ``n − 1`` normalisation (the official W-MSE whitening). ``"zca"``: ``z = S^{−1/2} (x − μ)``
    with the same shrunk covariance ``S``, computed by :func:`ai4m_kit.linalg.inv_sqrtm`
    (``method="eig"``, ``check=False``: no per-step PSD test, the Cholesky-style failure is not
    detected and a singular ``S`` gives large values). ``"none"``: ``x`` unchanged (the control).
    Either whitening gives every sub-batch an identity covariance (``n − 1`` normalisation).

    Args:
        x: float tensor ``(..., n, D)`` with ``n > D`` for the whitening methods.
        method: ``"cholesky"``, ``"zca"`` or ``"none"``.
        eps: shrinkage towards the identity, in ``[0, 1)``.

    Example:
        >>> x = torch.randn(3, 40, 8, dtype=torch.float64)
        >>> z = whiten(x)
        >>> cov = z.mT @ z / (40 - 1)
        >>> torch.allclose(cov, torch.eye(8, dtype=torch.float64).expand(3, 8, 8))
        True
    """
    _check_method(method)
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor shaped (..., n, D); got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1); got {eps}")
    if method == "none":
        return x
    n, dim = x.shape[-2], x.shape[-1]
    if n <= dim:
        raise ValueError(f"w_size must exceed the embedding dimension D (about 2D recommended); got w_size={n}, D={dim}")
    xc = x - x.mean(dim=-2, keepdim=True)
    cov = xc.mT @ xc / (n - 1)
    if eps:
        eye = torch.eye(dim, dtype=x.dtype, device=x.device)
        cov = (1.0 - eps) * cov + eps * eye
    if method == "zca":
        from ai4m_kit.linalg import inv_sqrtm

        return xc @ inv_sqrtm(cov, method="eig", check=False)
    L, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ValueError(f"Cholesky whitening failed: the sub-batch covariance is not positive definite "
                         f"(w_size={n}, D={dim}, eps={eps:g}); use eps > 0 or a larger w_size (about 2D)")
    # rows z_i = L^{-1} xc_i, i.e. Z Lᵀ = Xc: one triangular solve with the rows as right-hand sides
    return torch.linalg.solve_triangular(L.mT, xc, upper=True, left=False)


def stack_views(views: Sequence[torch.Tensor] | torch.Tensor, num_views: int | None = None) -> torch.Tensor:
    """The views as one ``(d, B, D)`` tensor, checked: ``d ≥ 2`` same-shaped float ``(B, D)`` views.

    Accepts a sequence of ``(B, D)`` tensors, a ``(d, B, D)`` tensor, or the official layout
    ``torch.cat(views)`` shaped ``(d·B, D)`` together with ``num_views=d``.

    Example:
        >>> stack_views(torch.zeros(6, 3), num_views=2).shape
        torch.Size([2, 3, 3])
    """
    if isinstance(views, torch.Tensor):
        if views.dim() == 2:
            if num_views is None:
                raise ValueError("views shaped (d*B, D) need num_views=d; or pass a (d, B, D) tensor or a list of views")
            if num_views < 2 or views.shape[0] % num_views:
                raise ValueError(f"views shaped (d*B, D) = {tuple(views.shape)}: the rows must split into "
                                 f"num_views={num_views} >= 2 equal views")
            views = views.reshape(num_views, views.shape[0] // num_views, views.shape[1])
        elif views.dim() != 3:
            raise ValueError(f"views must be (d, B, D), (d*B, D) with num_views, or a list of (B, D); got shape {tuple(views.shape)}")
        elif num_views is not None and num_views != views.shape[0]:
            raise ValueError(f"num_views={num_views} but views has {views.shape[0]} views")
        stacked = views
    else:
        views = list(views)
        if not all(isinstance(v, torch.Tensor) for v in views):
            raise ValueError("views must be tensors shaped (B, D)")
        shapes = [tuple(v.shape) for v in views]
        if len(views) >= 2 and len(set(shapes)) > 1:
            raise ValueError(f"views must all have the same shape (B, D); got {shapes}")
        if views and views[0].dim() != 2:
            raise ValueError(f"each view must be shaped (B, D); got {shapes[0]}")
        stacked = torch.stack(views) if views else torch.empty(0, 0, 0)
    if stacked.shape[0] < 2:
        raise ValueError(f"need at least 2 views; got {stacked.shape[0]}")
    if not stacked.is_floating_point():
        raise ValueError(f"views must be floating point; got {stacked.dtype}")
    if not bool(torch.isfinite(stacked).all()):
        raise ValueError("views contain non-finite values (NaN or inf)")
    return stacked


def _check_w_size(batch: int, dim: int, w_size: int) -> None:
    if w_size <= dim:
        raise ValueError(f"w_size must exceed the embedding dimension D (about 2D recommended); got w_size={w_size}, D={dim}")
    if batch < w_size:
        raise ValueError(f"the batch is smaller than w_size: B={batch}, w_size={w_size}")
    if batch % w_size:
        raise ValueError(f"the batch B={batch} must be a multiple of w_size={w_size} (one permutation is split into "
                         f"B/w_size sub-batches, as in the official W-MSE)")


def whiten_sub_batches(
    x: torch.Tensor,
    *,
    w_size: int,
    method: str = "cholesky",
    eps: float = 0.0,
    joint: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One W-MSE whitening pass over views ``x`` shaped ``(d, B, D)`` (checked by the caller).

    A random permutation of the ``B`` images (``generator``) is split into sub-batches of ``w_size``;
    each view's sub-batch is whitened on its own (``joint=True``: the ``d`` views' rows together).
    Returns the whitened views ``(d, B, D)`` in the permuted order (pairs of views stay aligned).
    """
    d, batch, dim = x.shape
    device = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(batch, generator=generator, device=device).to(x.device)
    groups = x[:, perm].reshape(d, batch // w_size, w_size, dim)
    if joint:
        g = groups.transpose(0, 1).reshape(batch // w_size, d * w_size, dim)
        z = whiten(g, method, eps).reshape(batch // w_size, d, w_size, dim).transpose(0, 1)
    else:
        z = whiten(groups, method, eps)
    return z.reshape(d, batch, dim)


def wmse_loss(
    views: Sequence[torch.Tensor] | torch.Tensor,
    *,
    w_size: int = 128,
    w_iter: int = 1,
    eps: float = 0.0,
    whitening: str = "cholesky",
    joint: bool = False,
    num_views: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """W-MSE loss of ``d ≥ 2`` views of the same ``B`` images (see the module docstring).

    ``loss = 1/(w_iter·P) Σ_iter Σ_{i<j} mean_b (2 − 2 cos(zᵢ_b, zⱼ_b))`` with ``z`` the whitened
    embeddings and ``P = d(d−1)/2`` the number of pairs of views; in ``[0, 4]``.

    Args:
        views: a list of ``(B, D)`` tensors, a ``(d, B, D)`` tensor, or ``(d·B, D)`` with ``num_views``.
        w_size: whitening sub-batch size; ``B`` must be a multiple of it and it must exceed ``D``
            (about ``2·D`` recommended); unused by ``whitening="none"``.
        w_iter: whitening repeats, each with a new permutation (the official ``--w_iter``).
        eps: covariance shrinkage ``(1 − eps)·C + eps·I`` (official default 0).
        whitening: ``"cholesky"`` (official), ``"zca"`` or ``"none"`` (the collapsing control).
        joint: whiten each sub-batch over all views' rows together instead of per view.
        num_views: ``d`` when ``views`` is the concatenated ``(d·B, D)`` tensor.
        generator: seeds the permutations (CPU generator, or one on the views' device).

    Raises:
        ValueError: fewer than 2 views, views of different shapes, non-finite input, a batch smaller
            than or not a multiple of ``w_size``, ``w_size <= D``, or a failed Cholesky factorisation.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z1 = torch.randn(256, 64, generator=g)
        >>> z2 = z1 + 0.1 * torch.randn(256, 64, generator=g)
        >>> loss = wmse_loss([z1, z2], w_size=128, generator=g)
        >>> 0 < loss.item() < 2
        True
    """
    _check_method(whitening)
    if w_iter < 1:
        raise ValueError(f"w_iter must be >= 1; got {w_iter}")
    x = stack_views(views, num_views)
    d, batch, dim = x.shape
    if whitening != "none":  # the control has no sub-batches: its loss does not depend on w_size
        _check_w_size(batch, dim, w_size)
    pairs = d * (d - 1) // 2
    iu, ju = torch.triu_indices(d, d, offset=1, device=x.device)
    total = x.new_zeros(())
    for _ in range(w_iter):
        z = x if whitening == "none" else whiten_sub_batches(x, w_size=w_size, method=whitening, eps=eps,
                                                                joint=joint, generator=generator)
        z = F.normalize(z, dim=-1)
        cos = (z[iu] * z[ju]).sum(-1)  # (pairs, B)
        total = total + (2 - 2 * cos.mean(dim=1)).sum()
    return total / (w_iter * pairs)
