"""Data: the embedded sample corpus (BSC4K layout) and lazy loaders for frame folders and videos.

Names are imported from their modules on first use (PEP 562), so ``from ai4m_kit.data import
DataError`` does not import torch or the sample generator.
"""

from __future__ import annotations

import importlib

from .errors import DataError

_WHERE = {
    "ClipPair": "loaders", "FrameFolder": "loaders", "VideoFile": "loaders", "find_clips": "loaders",
    "open_clip": "loaders", "rgb_to_luma": "loaders",
    "png_header": "png", "read_png": "png", "write_png": "png",
    "write_video": "video_writer",
    "CATEGORIES": "sample", "CLIPS": "sample", "MOTIONS": "sample", "default_sample_root": "sample",
    "ensure_sample": "sample", "generate_sample": "sample", "read_manifest": "sample",
}

__all__ = [
    "CATEGORIES", "CLIPS", "MOTIONS", "ClipPair", "DataError", "default_sample_root", "FrameFolder", "VideoFile",
    "ensure_sample", "find_clips", "generate_sample", "open_clip", "png_header", "read_manifest",
    "read_png", "rgb_to_luma", "write_png", "write_video",
]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
