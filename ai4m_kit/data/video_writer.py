"""Write clips as video files with PyAV (for exporting frame folders and for tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

DEFAULT_CODECS = {".y4m": "rawvideo", ".mp4": "libx264", ".mov": "prores_ks", ".mkv": "ffv1"}


def write_video(path: str | Path, frames: torch.Tensor | np.ndarray, *, fps: int = 25,
                pix_fmt: str = "yuv420p", codec: str | None = None) -> Path:
    """Write frames to ``path``; the codec follows the suffix unless given.

    Args:
        frames: ``(T, H, W)`` luma code values, written as the Y plane with neutral chroma
            (exact for lossless codecs), or ``(T, 3, H, W)`` uint8 RGB, converted by swscale.
        pix_fmt: e.g. ``yuv420p`` or ``yuv420p10le`` (10-bit luma needs values < 1024).
    """
    import av

    path = Path(path)
    arr = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[1] != 3):
        raise ValueError(f"frames must be (T, H, W) luma or (T, 3, H, W) RGB; got shape {arr.shape}")
    codec = codec or DEFAULT_CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"no default codec for suffix {path.suffix!r}; pass codec=")
    bits = 10 if "10" in pix_fmt else 8
    wide = bits > 8
    height, width = arr.shape[-2:]
    options = {"strict": "-1"} if path.suffix.lower() == ".y4m" and wide else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for frame_arr in arr:
            if frame_arr.ndim == 3:
                if frame_arr.dtype != np.uint8:
                    raise TypeError(f"RGB frames must be uint8; got {frame_arr.dtype}")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_arr.transpose(1, 2, 0)), format="rgb24")
                frame = frame.reformat(format=pix_fmt)
            else:
                if frame_arr.min() < 0 or frame_arr.max() >= 2 ** bits:
                    raise ValueError(f"luma values must lie in [0, {2 ** bits}) for {pix_fmt}")
                dtype, nbytes = (np.dtype("<u2"), 2) if wide else (np.uint8, 1)
                frame = av.VideoFrame(width, height, pix_fmt)
                y = frame.planes[0]
                pad = y.line_size // nbytes - width
                y.update(np.pad(frame_arr.astype(dtype), ((0, 0), (0, pad))).tobytes())
                for plane in frame.planes[1:]:
                    plane.update(np.full(plane.buffer_size // nbytes, 2 ** (bits - 1), dtype).tobytes())
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
