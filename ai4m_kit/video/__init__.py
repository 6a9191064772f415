"""Video content descriptors (SI, TI per ITU-T P.910, colourfulness) and corpus coverage.

Importing this package imports neither torch nor xarray: the descriptors import torch when called,
and :mod:`ai4m_kit.video.coverage` streams clips with NumPy.
"""

from .descriptors import (
    DEFAULT_POOLING,
    DEFINITIONS,
    MATRICES,
    POOLINGS,
    code_range,
    colourfulness,
    display_model,
    pool,
    pooled_siti,
    prepare_luma,
    siti,
    spatial_information,
    temporal_information,
    ycbcr_to_rgb,
)

__all__ = [
    "DEFAULT_POOLING", "DEFINITIONS", "MATRICES", "POOLINGS", "code_range", "colourfulness", "display_model",
    "pool", "pooled_siti", "prepare_luma", "siti", "spatial_information", "temporal_information",
    "ycbcr_to_rgb",
]
