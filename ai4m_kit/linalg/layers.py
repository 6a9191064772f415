"""Layers built on the matrix square root: ZCA whitening (decorrelated batch normalisation) with
groups, covariance (second-order) pooling, and the whitening-and-colouring transform.

Every layer takes ``method`` and extra keyword arguments that are passed to
:func:`ai4m_kit.linalg.sqrtm.sqrtm` / :func:`~ai4m_kit.linalg.sqrtm.inv_sqrtm`, so any method
(``"mpa"``, ``"mtp"``, ``"ns"``, ``"eig"``, ``"auto"``) can be used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.sqrtm import inv_sqrtm, sqrtm


def _channels_last_rows(x: torch.Tensor, name: str) -> torch.Tensor:
    """(B, C, *spatial) -> (C, N) with N = B · prod(spatial)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (B, C, ...); got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must be shaped (B, C) or (B, C, *spatial); got shape {tuple(x.shape)}")
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def group_covariance(x: torch.Tensor, groups: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group mean ``(G, C/G, 1)`` and covariance ``(G, C/G, C/G)`` of features ``(B, C, ...)``
    (statistics over the batch and spatial positions).

    Example:
        >>> mean, cov = group_covariance(torch.randn(32, 6, 4, 4), groups=2)
        >>> mean.shape, cov.shape
        (torch.Size([2, 3, 1]), torch.Size([2, 3, 3]))
    """
    rows = _channels_last_rows(x, "x")
    C, N = rows.shape
    if not isinstance(groups, int) or groups < 1 or C % groups:
        raise ValueError(f"groups must be a positive divisor of the {C} channels; got {groups!r}")
    if N < 2:
        raise ValueError(f"x needs at least 2 samples (batch × positions) for a covariance; got {N}")
    g = rows.reshape(groups, C // groups, N)
    mean = g.mean(dim=-1, keepdim=True)
    centred = g - mean
    cov = centred @ centred.transpose(-2, -1) / N
    return mean, 0.5 * (cov + cov.transpose(-2, -1))


def zca_whiten(
    x: torch.Tensor, groups: int = 1, eps: float = 1e-5, method: str = "auto", **root_kwargs: Any
) -> torch.Tensor:
    """ZCA-whiten features ``(B, C, ...)`` per channel group: ``Σ^{-1/2}(x − μ)`` with
    ``Σ = cov + eps·I`` from the batch itself.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = zca_whiten(torch.randn(256, 4, generator=g) @ (torch.eye(4) + 0.5 * torch.randn(4, 4, generator=g)), method="eig")
        >>> torch.allclose(y.T @ y / 256, torch.eye(4), atol=1e-3)
        True
    """
    mean, cov = group_covariance(x, groups)
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    W = inv_sqrtm(cov + eps * eye, method, **root_kwargs)
    return _apply_groups(x, W, mean)


def _apply_groups(x: torch.Tensor, W: torch.Tensor, mean: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """x (B, C, ...) -> W_g (x_g − mean_g) (+ shift_g), reshaped back."""
    G, c, _ = W.shape
    rows = _channels_last_rows(x, "x").reshape(G, c, -1)
    out = W @ (rows - mean)
    if shift is not None:
        out = out + shift
    B = x.shape[0]
    return out.reshape(x.shape[1], B, *x.shape[2:]).transpose(0, 1)


class ZCAWhitening(nn.Module):
    """Decorrelated batch normalisation: ZCA whitening of channel groups, then a per-channel affine.

    Training mode whitens with the batch statistics (gradients flow through ``Σ^{-1/2}``) and
    updates running mean and covariance; eval mode whitens with ``(running Σ + eps·I)^{-1/2}``.

    Args:
        num_features: channels C of inputs ``(B, C)`` or ``(B, C, *spatial)``.
        groups: number of channel groups (C must be divisible); each is whitened separately.
        eps: ridge added to each covariance. It must lift the smallest eigenvalue above the
            round-off level ``n · ε · λ_max`` of the covariance, or ``inv_sqrtm``'s input check
            refuses the covariance as singular.
        momentum: running-statistics update factor.
        affine: learn a per-channel scale and shift.
        method: matrix-root method; further keyword arguments go to ``inv_sqrtm``.

    Example:
        >>> layer = ZCAWhitening(8, groups=2, method="eig")
        >>> layer(torch.randn(16, 8, 5, 5)).shape
        torch.Size([16, 8, 5, 5])
    """

    def __init__(self, num_features: int, groups: int = 1, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, method: str = "auto", **root_kwargs: Any) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int; got {num_features!r}")
        if not isinstance(groups, int) or groups < 1 or num_features % groups:
            raise ValueError(f"groups must divide num_features={num_features} (a positive divisor); got {groups!r}")
        self.num_features, self.groups, self.eps, self.momentum = num_features, groups, eps, momentum
        self.method, self.root_kwargs = method, root_kwargs
        c = num_features // groups
        self.register_buffer("running_mean", torch.zeros(groups, c, 1))
        self.register_buffer("running_cov", torch.eye(c).repeat(groups, 1, 1))
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def extra_repr(self) -> str:
        return f"{self.num_features}, groups={self.groups}, eps={self.eps}, method={self.method!r}"

    def inverse_root(self, cov: torch.Tensor) -> torch.Tensor:
        """``(cov + eps·I)^{-1/2}`` of the ``(G, c, c)`` group covariances (subclasses swap the solver)."""
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        return inv_sqrtm(cov + self.eps * eye, self.method, **self.root_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"x must be shaped (B, {self.num_features}, ...); got shape {tuple(x.shape)}")
        if self.training:
            mean, cov = group_covariance(x, self.groups)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_cov.lerp_(cov.detach().to(self.running_cov.dtype), self.momentum)
        else:
            mean, cov = self.running_mean.to(x.dtype), self.running_cov.to(x.dtype)
        out = _apply_groups(x, self.inverse_root(cov), mean)
        if self.weight is not None:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def covariance_pool(x: torch.Tensor, method: str = "auto", eps: float = 1e-5, **root_kwargs: Any) -> torch.Tensor:
    """Second-order pooling: per image, the square root of the channel covariance over spatial
    positions, returned as the upper triangle ``(B, C(C+1)/2)``.

    Args:
        x: features ``(B, C, H, W)`` (or ``(B, C, N)``).
        method: matrix-root method (see :func:`ai4m_kit.linalg.sqrtm.sqrtm`).
        eps: ridge added to each covariance.

    Example:
        >>> covariance_pool(torch.randn(2, 4, 6, 6), method="eig").shape
        torch.Size([2, 10])
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 3:
        raise ValueError(f"x must be a tensor shaped (B, C, H, W) or (B, C, N); got {getattr(x, 'shape', type(x))}")
    B, C = x.shape[:2]
    f = x.reshape(B, C, -1)
    if f.shape[-1] < 2:
        raise ValueError(f"x needs at least 2 spatial positions; got shape {tuple(x.shape)}")
    f = f - f.mean(dim=-1, keepdim=True)
    cov = f @ f.transpose(-2, -1) / f.shape[-1]
    cov = 0.5 * (cov + cov.transpose(-2, -1)) + eps * torch.eye(C, dtype=x.dtype, device=x.device)
    root = sqrtm(cov, method, **root_kwargs)
    iu = torch.triu_indices(C, C, device=x.device)
    return root[:, iu[0], iu[1]]


class CovariancePooling(nn.Module):
    """Module form of :func:`covariance_pool` (global second-order pooling, as in iSQRT-COV / MPN-COV).

    Example:
        >>> CovariancePooling(method="ns")(torch.randn(2, 3, 4, 4)).shape
        torch.Size([2, 6])
    """

    def __init__(self, method: str = "auto", eps: float = 1e-5, **root_kwargs: Any) -> None:
        super().__init__()
        self.method, self.eps, self.root_kwargs = method, eps, root_kwargs

    def extra_repr(self) -> str:
        return f"method={self.method!r}, eps={self.eps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return covariance_pool(x, self.method, self.eps, **self.root_kwargs)


def whitening_coloring_transform(
    content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, eps: float = 1e-5, method: str = "auto", *,
    groups: int = 1, solver: str = "sqrtm", **root_kwargs: Any,
) -> torch.Tensor:
    """Whitening-and-colouring transform (universal style transfer) of feature maps, per image and
    channel group: ``Σ_s^{1/2} Σ_c^{-1/2} (f_c − μ_c) + μ_s``, blended as ``α·out + (1 − α)·f_c``.

    Args:
        content: content features ``(B, C, ...)``.
        style: style features ``(B, C, ...)`` (spatial sizes may differ).
        alpha: strength of the transfer in [0, 1].
        eps: ridge added to both covariances.
        method: the method of ``solver``.
        groups: split the ``C`` channels into this many contiguous blocks, each with its own
            ``C/G × C/G`` covariance.
        solver: ``"sqrtm"`` — both roots by :func:`sqrtm` / :func:`inv_sqrtm` (``method`` any
            root method, ``root_kwargs`` passed on); ``"eigh"`` — all ``2·B·G`` covariances in one
            batched :func:`ai4m_kit.linalg.eigh` call (``method`` ``"qr"``, ``"jacobi"``,
            ``"torch"`` or ``"auto"``).

    Example:
        >>> out = whitening_coloring_transform(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 6, 6), method="eig", groups=2)
        >>> out.shape
        torch.Size([1, 4, 8, 8])
    """
    for name, t in (("content", content), ("style", style)):
        if not isinstance(t, torch.Tensor) or t.ndim < 3:
            raise ValueError(f"{name} must be shaped (B, C, ...); got {getattr(t, 'shape', type(t))}")
    if content.shape[:2] != style.shape[:2]:
        raise ValueError(f"content and style must share (B, C); got {tuple(content.shape[:2])} and {tuple(style.shape[:2])}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    B, C = content.shape[:2]
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1 or C % groups:
        raise ValueError(f"groups must be a positive divisor of the {C} channels; got {groups!r}")
    if solver not in ("sqrtm", "eigh"):
        raise ValueError(f"solver must be 'sqrtm' or 'eigh'; got {solver!r}")
    k = C // groups
    eye = torch.eye(k, dtype=content.dtype, device=content.device)

    def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = t.reshape(B * groups, k, -1)
        mu = f.mean(dim=-1, keepdim=True)
        fc = f - mu
        cov = fc @ fc.transpose(-2, -1) / max(f.shape[-1] - 1, 1)
        return fc, mu, 0.5 * (cov + cov.transpose(-2, -1)) + eps * eye

    fc, _, cov_c = stats(content)
    _, mu_s, cov_s = stats(style)
    if solver == "eigh":
        w, U = eigh(torch.cat([cov_c, cov_s]), method)
        w = w.clamp_min(eps)  # ≥ eps in exact arithmetic (the ridge)
        n = B * groups
        whiten = U[:n] @ torch.diag_embed(w[:n].rsqrt()) @ U[:n].mT
        colour = U[n:] @ torch.diag_embed(w[n:].sqrt()) @ U[n:].mT
    else:
        whiten = inv_sqrtm(cov_c, method, **root_kwargs)
        colour = sqrtm(cov_s, method, **root_kwargs)
    out = (colour @ (whiten @ fc) + mu_s).reshape(content.shape)
    return alpha * out + (1.0 - alpha) * content
