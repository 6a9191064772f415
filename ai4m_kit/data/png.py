"""PNG frames at 8 and 16 bits per channel.

Pillow reads 8-bit PNGs fast but silently truncates 16-bit RGB PNGs to 8 bits, so the bit depth is
read from the file header first and 16-bit frames are decoded with FFmpeg's PNG decoder (PyAV).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..files import atomic_path
from .errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_header(path: str | Path) -> tuple[int, int, int, int]:
    """``(width, height, bit_depth, colour_type)`` from a PNG's IHDR chunk.

    Raises:
        DataError: the file is missing, is not a PNG, or its header is truncated.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
    except OSError as err:
        raise DataError(f"{path}: cannot read frame ({err.strerror})") from err
    if len(head) < 33 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise DataError(f"{path}: not a PNG file or corrupt header")
    width, height, depth, ctype = struct.unpack(">IIBB", head[16:26])
    if ctype not in _CHANNELS:
        raise DataError(f"{path}: unknown PNG colour type {ctype}")
    return width, height, depth, ctype


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG as ``(H, W, 3)`` RGB, ``uint8`` for 8-bit files and ``uint16`` for 16-bit ones.

    Grey images are replicated to three channels and alpha is dropped.

    Raises:
        DataError: corrupt or truncated file, or a bit depth other than 8 or 16.
    """
    path = Path(path)
    width, height, depth, ctype = png_header(path)
    if depth not in (8, 16) or (ctype == 3 and depth != 8):
        raise DataError(f"{path}: unsupported bit depth {depth} (supported: 8 and 16 bits per channel)")
    try:
        if depth == 8:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                arr = np.asarray(im.convert("RGB"))
        else:
            arr = _read_png16(path, ctype)
    except DataError:
        raise
    except Exception as err:  # Pillow and FFmpeg raise many types for damaged data
        raise DataError(f"{path}: corrupt frame ({type(err).__name__}: {err})") from err
    if arr.shape[:2] != (height, width):
        raise DataError(f"{path}: decoded size {arr.shape[1]}x{arr.shape[0]} differs from header {width}x{height}")
    return arr


def _read_png16(path: Path, ctype: int) -> np.ndarray:
    import av

    fmt = "gray16le" if ctype in (0, 4) else "rgb48le"
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    if not frames:
        raise DataError(f"{path}: corrupt frame (no image decoded)")
    arr = frames[0].to_ndarray(format=fmt)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return arr.astype(np.uint16, copy=False)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write ``(H, W, 3)`` RGB (or ``(H, W)`` grey) as PNG; ``uint8`` -> 8-bit, ``uint16`` -> 16-bit.

    The bytes depend only on the pixels (no timestamps), so the same frame gives the same file;
    written atomically (a killed run leaves the old file or none, never half a frame).
    """
    arr = np.asarray(rgb)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(f"rgb must be (H, W, 3) or (H, W); got shape {arr.shape}")
    if arr.dtype == np.uint8:
        from PIL import Image

        with atomic_path(path) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG", compress_level=6)
        return
    if arr.dtype != np.uint16:
        raise TypeError(f"rgb must be uint8 or uint16; got {arr.dtype}")
    height, width = arr.shape[:2]
    ctype = 2 if arr.ndim == 3 else 0
    rows = arr.reshape(height, -1).astype(">u2").tobytes()
    stride = width * (3 if ctype == 2 else 1) * 2
    # Filter type 0 (none) before each row.
    raw = b"".join(b"\x00" + rows[i * stride : (i + 1) * stride] for i in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 16, ctype, 0, 0, 0)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
