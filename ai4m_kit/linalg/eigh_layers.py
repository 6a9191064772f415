"""Applications of the batched eigendecomposition: decorrelated batch normalisation with groups and
whitening-and-colouring style transfer, both built on :func:`ai4m_kit.linalg.eigh`.

Both decompose one small covariance per channel group, so a layer with ``G`` groups makes one
batched ``eigh`` call on a ``(G, C/G, C/G)`` tensor — the setting the batched solvers target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ai4m_kit.linalg.eigh import eigh
from ai4m_kit.linalg.layers import ZCAWhitening, whitening_coloring_transform


def eigen_power(
    cov: torch.Tensor, power: float, *, eps: float = 1e-5, method: str = "auto", grad_mode: str = "exact", degree: int = 9,
    precision: str = "auto",
) -> torch.Tensor:
    """``(cov + eps·I)^power`` of symmetric positive semi-definite ``(..., n, n)`` via :func:`eigh`
    (``method``, ``grad_mode``, ``degree`` and ``precision`` are :func:`eigh`'s).

    Example:
        >>> C = torch.tensor([[4.0, 0.0], [0.0, 9.0]])
        >>> eigen_power(C, -0.5, eps=0.0, method="qr")
        tensor([[0.5000, 0.0000],
                [0.0000, 0.3333]])
    """
    n = cov.shape[-1]
    eye = torch.eye(n, dtype=cov.dtype, device=cov.device)
    w, U = eigh(cov + eps * eye, method, grad_mode=grad_mode, degree=degree, precision=precision)
    # Rounding can leave tiny negative eigenvalues of a singular covariance.
    floor = max(eps, torch.finfo(cov.dtype).tiny) if power < 0 else 0.0
    return U @ torch.diag_embed(w.clamp_min(floor).pow(power)) @ U.mT


class DecorrelatedBatchNorm(ZCAWhitening):
    """ZCA-whitening batch normalisation (decorrelated BN) with channel groups, on :func:`eigh`.

    The layer of :class:`ai4m_kit.linalg.layers.ZCAWhitening` (batch statistics in training,
    running mean and covariance in evaluation, optional per-channel affine map), with the inverse
    square root of each group covariance taken through the batched eigendecomposition: ``method``
    is an :func:`eigh` method and the gradient flows through it in ``grad_mode`` exact, taylor or pade;
    ``precision`` is :func:`eigh`'s (float64 in full or mixed precision).

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
        precision: str = "auto",
    ) -> None:
        super().__init__(num_features, groups, eps=eps, momentum=momentum, affine=affine, method=method)
        self.grad_mode, self.degree, self.precision = grad_mode, degree, precision

    def extra_repr(self) -> str:
        return super().extra_repr() + f", grad_mode={self.grad_mode!r}"

    def inverse_root(self, cov: torch.Tensor) -> torch.Tensor:
        return eigen_power(cov, -0.5, eps=self.eps, method=self.method, grad_mode=self.grad_mode, degree=self.degree,
                           precision=self.precision)


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
    out = whitening_coloring_transform(fc.unsqueeze(0), fs.unsqueeze(0), alpha, eps, method, groups=groups, solver="eigh")
    summed = F.fold(out, (H, W), patch, stride=stride)
    count = F.fold(torch.ones_like(out), (H, W), patch, stride=stride)
    return (summed / count.clamp_min(1))[0].clamp(0, 1)
