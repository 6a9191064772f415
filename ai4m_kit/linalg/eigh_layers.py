"""Applications of the batched eigendecomposition: decorrelated batch normalisation with groups and
whitening-and-colouring style transfer, both built on :func:`ai4m_kit.linalg.eigh`.

Both decompose one small covariance per channel group, so a layer with ``G`` groups makes one
batched ``eigh`` call on a ``(G, C/G, C/G)`` tensor — the setting the batched solvers target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.layers import ZCAWhitening


def _grouped_rows(x: torch.Tensor, groups: int, name: str = "x") -> torch.Tensor:
    """Features ``(B, C, *spatial)`` → ``(G, C/G, N)`` with ``N = B · prod(spatial)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (B, C, ...); got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must be shaped (B, C) or (B, C, *spatial); got shape {tuple(x.shape)}")
    C = x.shape[1]
    if not isinstance(groups, int) or groups < 1 or C % groups:
        raise ValueError(f"groups must be a positive divisor of the {C} channels of {name}; got {groups!r}")
    return x.transpose(0, 1).reshape(groups, C // groups, -1)


def eigen_power(
    cov: torch.Tensor, power: float, *, eps: float = 1e-5, method: str = "auto", grad_mode: str = "exact", degree: int = 9
) -> torch.Tensor:
    """``(cov + eps·I)^power`` of symmetric positive semi-definite ``(..., n, n)`` via :func:`eigh`.

    Example:
        >>> C = torch.tensor([[4.0, 0.0], [0.0, 9.0]])
        >>> eigen_power(C, -0.5, eps=0.0, method="qr")
        tensor([[0.5000, 0.0000],
                [0.0000, 0.3333]])
    """
    n = cov.shape[-1]
    eye = torch.eye(n, dtype=cov.dtype, device=cov.device)
    w, U = eigh(cov + eps * eye, method, grad_mode=grad_mode, degree=degree)
    # Rounding can leave tiny negative eigenvalues of a singular covariance.
    floor = max(eps, torch.finfo(cov.dtype).tiny) if power < 0 else 0.0
    return U @ torch.diag_embed(w.clamp_min(floor).pow(power)) @ U.mT


class DecorrelatedBatchNorm(ZCAWhitening):
    """ZCA-whitening batch normalisation (decorrelated BN) with channel groups, on :func:`eigh`.

    The layer of :class:`ai4m_kit.linalg.layers.ZCAWhitening` (batch statistics in training,
    running mean and covariance in evaluation, optional per-channel affine map), with the inverse
    square root of each group covariance taken through the batched eigendecomposition: ``method``
    is an :func:`eigh` method and the gradient flows through it in ``grad_mode`` exact, taylor or pade.

    Example:
        >>> layer = DecorrelatedBatchNorm(8, groups=2, method="jacobi")
        >>> y = layer(torch.randn(64, 8) @ torch.randn(8, 8))
        >>> cov = (y.T @ y / 64)[:4, :4]
        >>> torch.allclose(cov, torch.eye(4), atol=1e-3)
        True
    """

    def __init__(
        self,
        num_features: int,
        groups: int = 1,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        method: str = "auto",
        grad_mode: str = "exact",
        degree: int = 9,
    ) -> None:
        super().__init__(num_features, groups, eps=eps, momentum=momentum, affine=affine, method=method)
        self.grad_mode, self.degree = grad_mode, degree

    def extra_repr(self) -> str:
        return super().extra_repr() + f", grad_mode={self.grad_mode!r}"

    def inverse_root(self, cov: torch.Tensor) -> torch.Tensor:
        return eigen_power(cov, -0.5, eps=self.eps, method=self.method, grad_mode=self.grad_mode, degree=self.degree)


def whiten_colour(
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    groups: int = 1,
    alpha: float = 1.0,
    eps: float = 1e-5,
    method: str = "auto",
) -> torch.Tensor:
    """Whitening-and-colouring transform of feature matrices ``(C, N)`` per channel group.

    The content features are whitened with their own covariance and coloured with the style
    covariance and mean: ``Σ_s^{1/2} Σ_c^{-1/2} (f_c − μ_c) + μ_s``, then blended with the content
    by ``alpha``. All ``2G`` covariances go through one batched :func:`eigh` call.

    Example:
        >>> c, s = torch.randn(6, 500), 3 * torch.randn(6, 800) + 1
        >>> out = whiten_colour(c, s, groups=2, method="qr")
        >>> torch.allclose(torch.cov(out)[:3, :3], torch.cov(s)[:3, :3], atol=0.3)
        True
    """
    for name, f in (("content", content), ("style", style)):
        if not isinstance(f, torch.Tensor) or f.ndim != 2:
            raise ValueError(f"{name} must be a feature matrix (C, N); got {tuple(getattr(f, 'shape', ()))}")
    if content.shape[0] != style.shape[0]:
        raise ValueError(f"content and style need the same channels C; got {content.shape[0]} and {style.shape[0]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    fc = _grouped_rows(content.T, groups, "content")
    fs = _grouped_rows(style.T, groups, "style")
    mc, ms = fc.mean(-1, keepdim=True), fs.mean(-1, keepdim=True)
    cc, cs = fc - mc, fs - ms
    covs = torch.cat([cc @ cc.mT / cc.shape[-1], cs @ cs.mT / cs.shape[-1]])
    covs = 0.5 * (covs + covs.mT)
    n = covs.shape[-1]
    w, U = eigh(covs + eps * torch.eye(n, dtype=covs.dtype, device=covs.device), method)
    w = w.clamp_min(eps)
    G = fc.shape[0]
    whiten = U[:G] @ torch.diag_embed(w[:G].rsqrt()) @ U[:G].mT
    colour = U[G:] @ torch.diag_embed(w[G:].sqrt()) @ U[G:].mT
    out = colour @ (whiten @ cc) + ms
    out = out.reshape(content.shape)
    return alpha * out + (1 - alpha) * content


def patch_style_transfer(
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    patch: int = 3,
    stride: int = 1,
    groups: int = 1,
    alpha: float = 1.0,
    eps: float = 1e-5,
    method: str = "auto",
) -> torch.Tensor:
    """Style transfer by whitening and colouring of local colour patches of images ``(3, H, W)``.

    The features are the ``3·patch²`` values of every ``patch × patch`` window (no pretrained
    network is needed); the transformed patches are folded back and overlaps averaged. With
    ``groups`` the channel covariance is split into ``groups`` blocks (features ordered colour by
    colour, so ``groups=3`` treats the colour planes separately).

    Example:
        >>> out = patch_style_transfer(torch.rand(3, 16, 16), torch.rand(3, 20, 20), groups=3, method="jacobi")
        >>> out.shape
        torch.Size([3, 16, 16])
    """
    for name, img in (("content", content), ("style", style)):
        if not isinstance(img, torch.Tensor) or img.ndim != 3:
            raise ValueError(f"{name} must be an image (C, H, W); got {tuple(getattr(img, 'shape', ()))}")
    if content.shape[0] != style.shape[0]:
        raise ValueError(f"content and style need the same colour channels; got {content.shape[0]} and {style.shape[0]}")
    H, W = content.shape[-2:]
    fc = F.unfold(content.unsqueeze(0), patch, stride=stride)[0]
    fs = F.unfold(style.unsqueeze(0), patch, stride=stride)[0]
    out = whiten_colour(fc, fs, groups=groups, alpha=alpha, eps=eps, method=method)
    summed = F.fold(out.unsqueeze(0), (H, W), patch, stride=stride)
    count = F.fold(torch.ones_like(out).unsqueeze(0), (H, W), patch, stride=stride)
    return (summed / count.clamp_min(1))[0].clamp(0, 1)
