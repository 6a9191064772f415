"""Data: the embedded sample corpus (BSC4K layout) and lazy loaders for frame folders and videos."""

from .errors import DataError
from .loaders import ClipPair, FrameFolder, VideoFile, find_clips, open_clip, rgb_to_luma
from .png import png_header, read_png, write_png
from .video_writer import write_video
from .sample import CATEGORIES, CLIPS, MOTIONS, default_sample_root, ensure_sample, generate_sample, read_manifest

__all__ = [
    "CATEGORIES", "CLIPS", "MOTIONS", "ClipPair", "DataError", "default_sample_root", "FrameFolder", "VideoFile",
    "ensure_sample", "find_clips", "generate_sample", "open_clip", "png_header", "read_manifest",
    "read_png", "rgb_to_luma", "write_png", "write_video",
]
