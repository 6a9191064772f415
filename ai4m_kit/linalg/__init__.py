"""Batched linear algebra for deep learning: eigendecomposition, matrix square roots, whitening.

- :func:`eigh`: batched symmetric eigendecomposition (``"qr"``, ``"jacobi"``, ``"torch"``, ``"auto"``),
  differentiable with exact, Taylor or Padé eigenvector gradients;
- :func:`sqrtm`, :func:`inv_sqrtm`: differentiable matrix square roots (``"mtp"``, ``"mpa"`` with a
  Lyapunov backward, ``"ns"``, ``"eig"``, ``"auto"``);
- layers: :class:`ZCAWhitening` / :class:`DecorrelatedBatchNorm` (grouped whitening),
  :class:`CovariancePooling`, and the whitening-and-colouring transforms.
"""

from .checks import check_positive_semidefinite, check_symmetric
from .eigh import eigh
from .eigh_layers import DecorrelatedBatchNorm, eigen_power, patch_style_transfer
from .layers import CovariancePooling, ZCAWhitening, covariance_pool, whitening_coloring_transform, zca_whiten
from .sqrtm import inv_sqrtm, lyapunov_newton_schulz, lyapunov_smith, pade_sqrt_coefficients, sqrtm

__all__ = [
    "CovariancePooling", "DecorrelatedBatchNorm", "ZCAWhitening", "check_positive_semidefinite", "check_symmetric",
    "covariance_pool", "eigen_power", "eigh", "inv_sqrtm", "lyapunov_newton_schulz", "lyapunov_smith",
    "pade_sqrt_coefficients", "patch_style_transfer", "sqrtm", "whitening_coloring_transform", "zca_whiten",
]
