"""Video content descriptors (SI, TI per ITU-T P.910, colourfulness) and corpus coverage."""

from .descriptors import (
    DEFAULT_POOLING,
    DEFINITIONS,
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
    "DEFAULT_POOLING", "DEFINITIONS", "POOLINGS", "code_range", "colourfulness", "display_model",
    "pool", "pooled_siti", "prepare_luma", "siti", "spatial_information", "temporal_information",
    "ycbcr_to_rgb",
]
