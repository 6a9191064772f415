"""Lazy clip readers: BSC4K-style PNG frame folders and video files (PyAV), and clip pairs.

A clip reader exposes ``len(clip)``, ``clip.size`` (H, W), ``clip.bit_depth``, ``clip.color_range``,
``clip.name``, ``clip.read(i, mode)`` and ``clip.iter_chunks(chunk, mode)``. Frames come as tensors:

- ``mode="rgb"``: ``(3, H, W)`` per frame (``(T, 3, H, W)`` per chunk), ``uint8`` for 8-bit sources and
  ``int32`` code values for deeper ones;
- ``mode="y"``: ``(H, W)`` luma code values (``(T, H, W)`` per chunk). For video files this is the
  stored Y plane (``uint8``/``int32``, in the file's range, usually limited); for RGB PNG frames it is
  BT.709 luma ``0.2126 R + 0.7152 G + 0.0722 B`` as ``float32`` in the frame's code range (full range).

``clip.iter_planes()`` streams the decoder's own planes as NumPy arrays, one decode and no colour
conversion (what :mod:`ai4m_kit.video.coverage` reads): ``("ycbcr", (Y, Cb, Cr))`` for planar Y'CbCr
video (chroma at its stored resolution), ``("y", (Y,))`` for grey video and ``("rgb", (R, G, B))`` for
RGB video and PNG frames. torch is imported only by the tensor methods.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DataError
from .png import png_header, read_png

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".y4m", ".avi", ".webm", ".mxf")
MODES = ("rgb", "y")
BT709_LUMA = (0.2126, 0.7152, 0.0722)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")


def rgb_to_luma(rgb: torch.Tensor) -> torch.Tensor:
    """BT.709 luma of ``(..., 3, H, W)`` RGB code values, as float32 ``(..., H, W)``.

    Example:
        >>> import torch
        >>> rgb_to_luma(torch.full((3, 2, 2), 100, dtype=torch.uint8))[0, 0].item()
        100.0
    """
    if rgb.ndim < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"rgb must be (..., 3, H, W); got shape {tuple(rgb.shape)}")
    import torch

    x = rgb.to(torch.float32)
    return BT709_LUMA[0] * x[..., 0, :, :] + BT709_LUMA[1] * x[..., 1, :, :] + BT709_LUMA[2] * x[..., 2, :, :]


class FrameFolder:
    """A folder of PNG frames (8 or 16 bits per channel), read lazily in natural name order.

    All headers are checked when the folder is opened (cheap), so mixed sizes, mixed or unsupported
    bit depths and non-PNG files are reported before any analysis starts; pixel data is decoded only
    when a frame is read, and a corrupt frame is reported with its file name.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path}: frame folder does not exist")
        files = sorted((p for p in self.path.iterdir() if p.suffix.lower() == ".png"), key=lambda p: _natural_key(p.name))
        if not files:
            raise DataError(f"{self.path}: empty folder (no .png frames)")
        self.files = files
        first = png_header(files[0])
        for f in files[1:]:
            w, h, depth, _ = png_header(f)
            if (w, h) != first[:2]:
                raise DataError(f"{f}: mixed sizes in {self.path}: {w}x{h}, but {files[0].name} is {first[0]}x{first[1]}")
            if depth != first[2]:
                raise DataError(f"{f}: mixed bit depths in {self.path}: {depth}, but {files[0].name} has {first[2]}")
        if first[2] not in (8, 16):
            raise DataError(f"{files[0]}: unsupported bit depth {first[2]} (supported: 8 and 16 bits per channel)")
        self.size = (first[1], first[0])
        self.bit_depth = first[2]
        self.color_range = "full"
        self.color_range_source = "tag"  # RGB PNG code values are full range
        self.name = self.path.name

    @property
    def frame_names(self) -> list[str]:
        return [f.name for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"FrameFolder({str(self.path)!r}, frames={len(self)}, size={self.size}, bit_depth={self.bit_depth})"

    def _rgb_array(self, i: int) -> np.ndarray:
        arr = read_png(self.files[i])
        if arr.shape[:2] != self.size:
            raise DataError(f"{self.files[i]}: size {arr.shape[1]}x{arr.shape[0]} differs from the folder's")
        return arr

    def _rgb(self, i: int) -> torch.Tensor:
        import torch

        arr = self._rgb_array(i)
        t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        return t if arr.dtype == np.uint8 else t.to(torch.int32)

    def read(self, i: int, mode: str = "rgb") -> torch.Tensor:
        """Frame ``i`` as ``(3, H, W)`` RGB or ``(H, W)`` luma (see module docstring)."""
        _check_mode(mode)
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for {len(self)} frames in {self.path}")
        rgb = self._rgb(i % len(self))
        return rgb if mode == "rgb" else rgb_to_luma(rgb)

    def iter_chunks(self, chunk: int = 8, mode: str = "rgb", start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        """Yield ``(T, 3, H, W)`` or ``(T, H, W)`` chunks of at most ``chunk`` frames."""
        _check_mode(mode)
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1; got {chunk}")
        stop = len(self) if stop is None else min(stop, len(self))
        import torch

        for s in range(start, stop, chunk):
            yield torch.stack([self.read(i, mode) for i in range(s, min(s + chunk, stop))])

    def iter_planes(self, start: int = 0, stop: int | None = None, threads: int = 0):
        """Yield ``("rgb", (R, G, B))`` per frame: NumPy ``(H, W)`` planes (``uint8``/``uint16``)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop):
            arr = self._rgb_array(i)
            yield "rgb", (arr[..., 0], arr[..., 1], arr[..., 2])


COLOR_RANGES = ("limited", "full")


class VideoFile:
    """A video file decoded lazily with PyAV (.mp4, .mov, .mkv, .y4m, ...).

    ``color_range`` is the file's tag (``color_range_source == "tag"``), or the ``color_range``
    argument (``"option"``); an untagged YUV file is taken as limited range (``"assumed"``): callers
    that see luma outside 16-235 should say so (:mod:`ai4m_kit.video.coverage` does). Decoding
    stops with a :class:`DataError` when a file yields fewer frames than its header or duration
    promise (a truncated file).
    """

    def __init__(self, path: str | Path, color_range: str | None = None):
        import av

        if color_range is not None and color_range not in COLOR_RANGES:
            raise ValueError(f"color_range must be one of {COLOR_RANGES} or None; got {color_range!r}")
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: video file does not exist")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise DataError(f"{self.path}: unreadable video (no video stream)")
                stream = container.streams.video[0]
                ctx = stream.codec_context
                self.size = (ctx.height, ctx.width)
                self.pix_fmt = ctx.pix_fmt or (ctx.format.name if ctx.format else "")
                self._frames = stream.frames or None
                self._expected, self._exact = self._promised_frames(container, stream)
                cr = ctx.color_range
                space = int(ctx.colorspace or 2)
        except DataError:
            raise
        except Exception as err:
            raise DataError(f"{self.path}: unreadable video ({type(err).__name__}: {err})") from err
        if not self.pix_fmt or self.size[0] <= 0:
            raise DataError(f"{self.path}: unreadable video (no decodable format)")
        m = re.search(r"p(\d+)(le|be)$", self.pix_fmt)
        self.bit_depth = int(m.group(1)) if m else 8
        self.is_rgb = self.pix_fmt.startswith(("rgb", "bgr", "gbr"))
        # AVColorRange: 1 = MPEG (limited), 2 = JPEG (full).
        if color_range is not None:
            self.color_range, self.color_range_source = color_range, "option"
        elif self.is_rgb or self.pix_fmt.startswith("yuvj") or cr == 2:
            self.color_range, self.color_range_source = "full", "tag"
        elif cr == 1:
            self.color_range, self.color_range_source = "limited", "tag"
        else:
            self.color_range, self.color_range_source = "limited", "assumed"
        # AVColorSpace: 1 BT.709, 5 BT.470BG, 6 SMPTE 170M, 9/10 BT.2020; untagged: by height, as
        # players do (BT.709 from 720 lines up, else BT.601).
        tagged = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
        if space in tagged:
            self.matrix, self.matrix_source = tagged[space], "tag"
        else:
            self.matrix, self.matrix_source = ("bt709" if self.size[0] >= 720 else "bt601"), "assumed"
        self.name = self.path.stem

    def _promised_frames(self, container, stream) -> tuple[int | None, bool]:
        """Frames the file promises: the stream's count (exact), the payload of a .y4m (exact), or
        duration x frame rate (within one frame); ``None`` when nothing says."""
        if stream.frames:
            return int(stream.frames), True
        if self.path.suffix.lower() == ".y4m":
            header = self.path.open("rb").readline()
            fmt = stream.codec_context.pix_fmt or ""
            h, w = stream.codec_context.height, stream.codec_context.width
            try:
                import av

                desc = av.VideoFormat(fmt, w, h)
                frame_bytes = sum(c.width * c.height * (2 if c.bits > 8 else 1) for c in desc.components)
            except Exception:  # noqa: BLE001 - unusual format: no promise
                return None, False
            payload = self.path.stat().st_size - len(header)
            full, rest = divmod(payload, len(b"FRAME\n") + frame_bytes)
            return full + (1 if rest else 0), True  # a partial last frame counts as promised
        rate = stream.average_rate or stream.guessed_rate
        duration = (float(stream.duration * stream.time_base) if stream.duration
                    else (container.duration / 1e6 if container.duration else None))
        if duration and rate:
            return int(round(duration * float(rate))), False
        return None, False

    def __len__(self) -> int:
        if self._frames is None:
            import av

            with av.open(str(self.path)) as container:
                self._frames = sum(1 for p in container.demux(video=0) if p.size)
        return self._frames

    def __repr__(self) -> str:
        return f"VideoFile({str(self.path)!r}, size={self.size}, pix_fmt={self.pix_fmt!r}, range={self.color_range})"

    def _convert(self, frame, mode: str) -> torch.Tensor:
        import torch

        if mode == "y":
            if self.pix_fmt.startswith(("rgb", "bgr", "gbr")):
                return rgb_to_luma(self._convert(frame, "rgb"))
            plane = frame.planes[0]
            bytes_per = 1 if self.bit_depth <= 8 else 2
            dtype = np.uint8 if bytes_per == 1 else np.dtype("<u2")
            h, w = self.size
            buf = np.frombuffer(plane, dtype=dtype).reshape(h, plane.line_size // bytes_per)[:, :w]
            t = torch.from_numpy(buf.copy())
            return t if bytes_per == 1 else t.to(torch.int32)
        if self.color_range_source in ("option", "assumed") and not self.is_rgb:
            frame.color_range = 2 if self.color_range == "full" else 1  # swscale converts by this range
        if self.bit_depth <= 8:
            return torch.from_numpy(frame.to_ndarray(format="rgb24").transpose(2, 0, 1).copy())
        arr = frame.to_ndarray(format="rgb48le").astype(np.int32)
        # swscale scales to 16 bits; bring values back to the source's code range.
        arr >>= 16 - self.bit_depth
        return torch.from_numpy(arr.transpose(2, 0, 1).copy())

    def _decode(self, mode: str, start: int = 0, stop: int | None = None, threads: int = 0) -> Iterator:
        import av

        if mode != "planes":
            _check_mode(mode)
        decoded = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                if threads > 0:
                    stream.thread_type = "AUTO"
                    stream.thread_count = threads
                for i, frame in enumerate(container.decode(stream)):
                    if stop is not None and i >= stop:
                        return
                    decoded += 1
                    if i >= start:
                        yield self._planes(frame) if mode == "planes" else self._convert(frame, mode)
        except av.error.FFmpegError as err:
            raise DataError(f"{self.path}: unreadable video while decoding frame {decoded} ({err})") from err
        promised = self._expected
        if promised is not None and decoded < promised - (0 if self._exact else 1):
            how = ("its file size" if self.path.suffix.lower() == ".y4m" else "its header") if self._exact else "its duration"
            raise DataError(f"{self.path}: truncated or corrupt video: {how} promises {promised} frames, "
                            f"only {decoded} could be decoded")

    def read(self, i: int, mode: str = "rgb") -> torch.Tensor:
        """Frame ``i`` (decodes from the start: use :meth:`iter_chunks` to stream a clip)."""
        for frame in self._decode(mode, i, i + 1):
            return frame
        raise IndexError(f"frame {i} out of range for {self.path}")

    def iter_chunks(self, chunk: int = 8, mode: str = "rgb", start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        """Yield chunks of at most ``chunk`` decoded frames, streaming through the file once."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1; got {chunk}")
        import torch

        buf: list[torch.Tensor] = []
        for frame in self._decode(mode, start, stop):
            buf.append(frame)
            if len(buf) == chunk:
                yield torch.stack(buf)
                buf = []
        if buf:
            yield torch.stack(buf)

    def _planes(self, frame) -> tuple[str, tuple[np.ndarray, ...]]:
        """The decoder's planes of one frame as NumPy views (no copy, no colour conversion)."""
        fmt = frame.format.name
        if self.is_rgb:
            if self.bit_depth <= 8:
                arr = frame.to_ndarray(format="rgb24")
            else:  # swscale scales to 16 bits; bring values back to the source's code range
                arr = frame.to_ndarray(format="rgb48le") >> (16 - self.bit_depth)
            return "rgb", (arr[..., 0], arr[..., 1], arr[..., 2])
        if not (fmt.startswith(("yuv", "gray")) and not fmt.startswith(("yuva", "yuyv"))
                and len(frame.planes) in (1, 3)):  # packed or semi-planar (nv12, p010...): unpack
            frame = frame.reformat(format="yuv444p" if self.bit_depth <= 8 else f"yuv444p{self.bit_depth}le")
        dtype = np.uint8 if self.bit_depth <= 8 else np.dtype("<u2")
        size = dtype.itemsize if isinstance(dtype, np.dtype) else 1
        planes = []
        for plane in frame.planes:
            buf = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // size)
            planes.append(buf[:, :plane.width])
        return ("ycbcr" if len(planes) == 3 else "y"), tuple(planes)

    def iter_planes(self, start: int = 0, stop: int | None = None, threads: int = 0):
        """Yield ``(kind, planes)`` per frame, decoding the file once: ``("ycbcr", (Y, Cb, Cr))`` for
        planar Y'CbCr (chroma at its stored size), ``("y", (Y,))`` for grey, ``("rgb", (R, G, B))``
        for RGB video. Planes are NumPy ``(h, w)`` views of the decoded frame, ``uint8`` or ``uint16``
        code values. ``threads`` > 0 lets the decoder use that many threads (frame threading)."""
        for frame in self._decode("planes", start, stop, threads=threads):
            yield frame


def open_clip(path: str | Path, color_range: str | None = None) -> FrameFolder | VideoFile:
    """Open a PNG frame folder or a video file; ``color_range`` overrides a video's range tag
    (PNG frames are always full range)."""
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path)
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise DataError(f"{path}: not a frame folder or a video file with a known suffix {VIDEO_SUFFIXES}")
        return VideoFile(path, color_range=color_range)
    raise DataError(f"{path}: no such frame folder or video file")


HR_DIR, LR_DIR = "4k", "1080p"


class ClipPair:
    """A BSC4K-style clip: the same scene recorded at high (``4k/``) and low (``1080p/``) resolution.

    Validated on opening: same frame count, exact 2x size ratio, aligned frame names.
    """

    def __init__(self, hr: str | Path, lr: str | Path | None = None):
        if lr is None:
            root = Path(hr)
            hr, lr = root / HR_DIR, root / LR_DIR
            self.name = root.name
        else:
            self.name = Path(hr).stem
        self.hr = open_clip(hr)
        self.lr = open_clip(lr)
        if len(self.hr) != len(self.lr):
            raise DataError(f"mismatched pair {self.name}: {hr} has {len(self.hr)} frames, {lr} has {len(self.lr)}")
        (H, W), (h, w) = self.hr.size, self.lr.size
        if (H, W) != (2 * h, 2 * w):
            raise DataError(f"mismatched pair {self.name}: {hr} is {W}x{H}, {lr} is {w}x{h}; expected exactly 2x")
        if isinstance(self.hr, FrameFolder) and isinstance(self.lr, FrameFolder):
            for a, b in zip(self.hr.frame_names, self.lr.frame_names):
                if a != b:
                    raise DataError(f"mismatched pair {self.name}: frame names not aligned ({hr}/{a} vs {lr}/{b})")

    def __len__(self) -> int:
        return len(self.hr)

    def __repr__(self) -> str:
        return f"ClipPair({self.name!r}, frames={len(self)}, hr={self.hr.size}, lr={self.lr.size})"


def _has_png(folder: Path) -> bool:
    return any(p.suffix.lower() == ".png" for p in folder.iterdir())


def find_clips(paths) -> list[tuple[str, Path, str]]:
    """``(clip name, path, resolution label)`` for every clip under ``paths``.

    A BSC4K-style clip folder (with ``4k/`` and ``1080p/``) yields both, labelled ``"4k"`` and
    ``"1080p"``; a PNG frame folder or a video file yields itself labelled ``"native"``; a folder of
    such things is searched one level down.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[tuple[str, Path, str]] = []

    def visit(p: Path, depth: int) -> None:
        if p.is_file():
            if p.suffix.lower() in VIDEO_SUFFIXES:
                found.append((p.stem, p, "native"))
            return
        if not p.is_dir():
            raise DataError(f"{p}: no such file or folder")
        if (p / HR_DIR).is_dir() and (p / LR_DIR).is_dir():
            found.append((p.name, p / HR_DIR, HR_DIR))
            found.append((p.name, p / LR_DIR, LR_DIR))
        elif _has_png(p):
            found.append((p.name, p, "native"))
        elif depth > 0:
            for child in sorted(p.iterdir(), key=lambda c: _natural_key(c.name)):
                visit(child, depth - 1)

    for path in paths:
        visit(Path(path), 1)
    return found
