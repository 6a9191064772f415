"""The embedded sample corpus: paired high/low resolution clips in the BSC4K layout.

Every clip is a camera path over a *larger* scene: a photograph shipped by scikit-image, or
procedural content (text, building facades, a zone plate) rendered at a resolution finer than the
output. The two recordings of a clip are made independently from that scene:

- the high-resolution ("4K") frame is an antialiased (Lanczos) downscale of the camera window, whose
  size is never smaller than the output: no frame is ever produced by upsampling;
- the low-resolution ("1080p") recording is a camera-like chain of its own: area binning of the same
  window onto the coarser sensor, sensor noise, mild in-camera sharpening and JPEG compression. It
  therefore differs from bicubic downscaling of the high-resolution frame, as real simultaneous
  recordings do.

Proxy sizes (384x216 / 192x108) by default; ``size="uhd"`` renders the procedural clips at true
3840x2160 / 1920x1080 (photographs are too small for that and are skipped). Same seed, same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..files import write_text_atomic
from ..profiles import pick, resolve_profile
from .errors import DataError
from .png import write_png

CATEGORIES = (
    "people", "vegetation", "text", "vehicles", "animals", "buildings",
    "textures", "close-up", "blurry", "focus change", "zoom",
)
MOTIONS = ("static", "pan", "zoom in", "zoom out", "handheld", "focus change")
SIZES = {"proxy": (384, 216), "uhd": (3840, 2160)}
MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ("clip", "category", "motion", "source", "frames", "fps",
                   "hr_width", "hr_height", "lr_width", "lr_height")
FPS = 25


@dataclass(frozen=True)
class ClipSpec:
    clip: str
    category: str
    motion: str
    source: str  # "skimage:<name>" or "procedural:<kind>"
    blur: float = 0.0  # constant defocus, in output (HR) pixels
    in_smoke: bool = True


CLIPS = (
    ClipSpec("people_astronaut", "people", "pan", "skimage:astronaut"),
    ClipSpec("people_cameraman", "people", "handheld", "skimage:camera", in_smoke=False),
    ClipSpec("vegetation_grass", "vegetation", "zoom out", "skimage:grass"),
    ClipSpec("text_scroll", "text", "pan", "procedural:text"),
    ClipSpec("vehicles_motorcycle", "vehicles", "pan", "skimage:stereo_motorcycle"),
    ClipSpec("vehicles_rocket", "vehicles", "handheld", "skimage:rocket", in_smoke=False),
    ClipSpec("animals_chelsea", "animals", "handheld", "skimage:chelsea"),
    ClipSpec("buildings_facade", "buildings", "pan", "procedural:facade"),
    ClipSpec("textures_ihc", "textures", "zoom out", "skimage:immunohistochemistry"),
    ClipSpec("textures_zoneplate", "textures", "static", "procedural:zoneplate", in_smoke=False),
    ClipSpec("closeup_coffee", "close-up", "zoom in", "skimage:coffee"),
    ClipSpec("blurry_hubble", "blurry", "pan", "skimage:hubble_deep_field", blur=2.5),
    ClipSpec("focus_rocket", "focus change", "focus change", "skimage:rocket"),
    ClipSpec("zoom_retina", "zoom", "zoom in", "skimage:retina"),
)


# ---------------------------------------------------------------- scenes

def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        img = img[0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


def _render_text(width: int, height: int, t: float, rng_seed: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), (246, 242, 230))
    draw = ImageDraw.Draw(img)
    lines = [
        "AI4Media: computationally demanding deep learning",
        "Spatial and temporal information per ITU-T P.910",
        "Synthetic upscaling leaves traces in the spectrum",
        "The quick brown fox jumps over the lazy dog 0123456789",
        "Pack my box with five dozen liquor jugs!",
        "Sphinx of black quartz, judge my vow.",
    ]
    rng = np.random.default_rng(rng_seed)
    y = int(0.02 * height)
    k = 0
    while y < height:
        size = int(height * rng.uniform(0.035, 0.09))
        font = ImageFont.load_default(size=max(size, 6))
        colour = tuple(int(c) for c in rng.integers(0, 140, size=3))
        draw.text((int(0.03 * width), y), lines[k % len(lines)], fill=colour, font=font)
        y += int(size * 1.35)
        k += 1
    return np.asarray(img)


def _render_facade(width: int, height: int, t: float, rng_seed: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(rng_seed)
    sky = np.linspace([120, 170, 230], [215, 230, 245], height).astype(np.uint8)
    img = Image.fromarray(np.repeat(sky[:, None, :], width, axis=1))
    draw = ImageDraw.Draw(img)
    x = 0
    while x < width:
        bw = int(width * rng.uniform(0.08, 0.18))
        top = int(height * rng.uniform(0.05, 0.45))
        wall = tuple(int(c) for c in rng.integers(90, 220, size=3))
        draw.rectangle([x, top, x + bw, height], fill=wall)
        win = max(2, int(bw * 0.12))
        for wy in range(top + win, height - win, int(win * 2.2)):
            for wx in range(x + win, x + bw - win, int(win * 2.0)):
                lit = rng.random() < 0.4
                draw.rectangle([wx, wy, wx + win, wy + int(win * 1.3)], fill=(250, 230, 150) if lit else (40, 55, 70))
        x += bw + int(width * 0.005)
    return np.asarray(img)


def _render_zoneplate(width: int, height: int, t: float, rng_seed: int) -> np.ndarray:
    # Analytic chirp: local frequency grows with radius up to about 0.35 cycles per canvas pixel.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    r2 = ((xx - width / 2) ** 2 + (yy - height / 2) ** 2) / (width / 2) ** 2
    k = 0.35 * np.pi * width / 2
    phase = 2 * np.pi * 0.15 * t * 25  # drifting scene: the pattern moves, the camera does not
    base = 0.5 + 0.5 * np.cos(k * r2 + phase)
    rgb = np.stack([base, 0.5 + 0.5 * np.cos(k * r2 * 0.8 + phase), 1 - base], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


PROCEDURAL: dict[str, Callable[[int, int, float, int], np.ndarray]] = {
    "text": _render_text,
    "facade": _render_facade,
    "zoneplate": _render_zoneplate,
}


# ---------------------------------------------------------------- camera

def camera_path(motion: str, frames: int, scene_w: int, scene_h: int, out_w: int, out_h: int,
                rng: np.random.Generator) -> np.ndarray:
    """Per-frame camera windows ``(frames, 4)`` as ``x0, y0, x1, y1`` in scene pixels.

    Windows keep the output aspect ratio and are never smaller than the output (no upsampling).
    """
    aspect = out_w / out_h
    w_max = min(scene_w, scene_h * aspect)
    if w_max < out_w:
        raise ValueError(f"scene {scene_w}x{scene_h} is smaller than the output {out_w}x{out_h}; it would need upsampling")
    s = np.linspace(0.0, 1.0, frames)
    if motion in ("static", "focus change"):
        w = np.full(frames, max(out_w, 0.85 * w_max))
        cx, cy = np.full(frames, scene_w / 2), np.full(frames, scene_h / 2)
    elif motion == "pan":
        w = np.full(frames, max(out_w, 0.8 * w_max))
        h = w / aspect
        if scene_w - w[0] >= scene_h - h[0]:  # pan along the longer free direction
            cx, cy = w / 2 + s * (scene_w - w), np.full(frames, scene_h / 2)
        else:
            cx, cy = np.full(frames, scene_w / 2), h / 2 + s * (scene_h - h)
    elif motion in ("zoom in", "zoom out"):
        lo, hi = max(out_w, 0.45 * w_max), w_max
        w = hi * (lo / hi) ** s  # geometric: constant zoom speed
        if motion == "zoom out":
            w = w[::-1]
        cx, cy = np.full(frames, scene_w / 2), np.full(frames, scene_h / 2)
    elif motion == "handheld":
        w = np.full(frames, max(out_w, 0.85 * w_max))
        h = w / aspect
        steps = rng.normal(0, 1, size=(frames, 2)).cumsum(axis=0)
        steps -= steps.mean(axis=0)
        amp = np.array([(scene_w - w[0]) / 2, (scene_h - h[0]) / 2]) / max(np.abs(steps).max(), 1e-9)
        cx = scene_w / 2 + steps[:, 0] * amp[0]
        cy = scene_h / 2 + steps[:, 1] * amp[1]
    else:
        raise ValueError(f"motion must be one of {MOTIONS}; got {motion!r}")
    h = w / aspect
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    # Clamp inside the scene (floating point only; sizes are unchanged).
    boxes[:, [0, 2]] -= np.minimum(boxes[:, [0]], 0) + np.maximum(boxes[:, [2]] - scene_w, 0)
    boxes[:, [1, 3]] -= np.minimum(boxes[:, [1]], 0) + np.maximum(boxes[:, [3]] - scene_h, 0)
    return boxes


def focus_blur(motion: str, frames: int, constant: float) -> np.ndarray:
    """Defocus per frame in output pixels: a focus pull (sharp, soft, sharp) or a constant blur."""
    if motion == "focus change":
        return 3.0 * np.sin(np.linspace(0, np.pi, frames)) ** 2
    return np.full(frames, constant)


# ---------------------------------------------------------------- recordings

def record_hr(scene, box, out_size):
    """High-resolution recording: antialiased Lanczos downscale of the window (never upsampled)."""
    from PIL import Image

    return np.asarray(scene.resize(out_size, Image.LANCZOS, box=tuple(float(v) for v in box)))


def record_lr(scene, box, out_size, rng: np.random.Generator, noise: float = 1.2, jpeg_quality: int = 90):
    """Low-resolution recording: area binning on a coarser sensor, noise, sharpening, JPEG."""
    from PIL import Image, ImageFilter

    binned = np.asarray(scene.resize(out_size, Image.BOX, box=tuple(float(v) for v in box)), dtype=np.float32)
    noisy = binned + rng.normal(0.0, noise, size=binned.shape).astype(np.float32)
    img = Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
    img = img.filter(ImageFilter.UnsharpMask(radius=1.0, percent=40, threshold=1))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=jpeg_quality, subsampling=0)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return np.asarray(decoded.convert("RGB"))


def _blurred(scene_arr: np.ndarray, sigma_scene: float):
    from PIL import Image, ImageFilter

    img = Image.fromarray(scene_arr)
    if sigma_scene > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(sigma_scene)))
    return img


def generate_clip(spec: ClipSpec, out_dir: Path, frames: int, size: str = "proxy", seed: int = 0) -> dict:
    """Render one clip pair into ``out_dir/<clip>/{4k,1080p}/frame_NNNN.png``; returns its manifest row."""
    out_w, out_h = SIZES[size]
    lr_w, lr_h = out_w // 2, out_h // 2
    clip_seed = (seed * 1_000_003 + zlib.crc32(spec.clip.encode())) % (2**32)
    rng = np.random.default_rng(clip_seed)
    kind, name = spec.source.split(":", 1)
    scale = out_w / SIZES["proxy"][0]
    if kind == "procedural":
        # Canvas finer than any window: 1.5x the output size (pan and zoom room), rendered natively.
        canvas_w, canvas_h = int(1.5 * out_w), int(1.5 * out_h)
        render = PROCEDURAL[name]
        static_scene = None if name == "zoneplate" else render(canvas_w, canvas_h, 0.0, clip_seed)
    else:
        static_scene = _skimage_photo(name)
        canvas_h, canvas_w = static_scene.shape[:2]
    boxes = camera_path(spec.motion, frames, canvas_w, canvas_h, out_w, out_h, rng)
    blur = focus_blur(spec.motion, frames, spec.blur)
    hr_dir, lr_dir = out_dir / spec.clip / "4k", out_dir / spec.clip / "1080p"
    for d in (hr_dir, lr_dir):
        d.mkdir(parents=True, exist_ok=True)
    camera = []
    for i in range(frames):
        arr = static_scene if static_scene is not None else render(canvas_w, canvas_h, i / FPS, clip_seed)
        # Defocus is optical: applied to the scene, shared by both recordings; given in HR pixels.
        px_per_out = (boxes[i, 2] - boxes[i, 0]) / out_w
        scene = _blurred(arr, blur[i] * scale * px_per_out)
        write_png(hr_dir / f"frame_{i:04d}.png", record_hr(scene, boxes[i], (out_w, out_h)))
        write_png(lr_dir / f"frame_{i:04d}.png", record_lr(scene, boxes[i], (lr_w, lr_h), rng))
        camera.append({"frame": i, "box": [round(float(v), 4) for v in boxes[i]],
                       "defocus_hr_px": round(float(blur[i] * scale), 4)})
    meta = {"clip": spec.clip, "scene_size": [canvas_w, canvas_h], "hr_size": [out_w, out_h],
            "lr_size": [lr_w, lr_h], "seed": seed, "frames": camera}
    write_text_atomic(out_dir / spec.clip / "camera.json", json.dumps(meta, indent=1))
    return {"clip": spec.clip, "category": spec.category, "motion": spec.motion, "source": spec.source,
            "frames": frames, "fps": FPS, "hr_width": out_w, "hr_height": out_h, "lr_width": lr_w, "lr_height": lr_h}


def profile_frames(profile: str) -> int:
    """Frames per clip of a profile."""
    return pick(profile, smoke=8, demo=16, paper=48)


def clips_for(profile: str, size: str = "proxy") -> list[ClipSpec]:
    """The clips generated for a profile (smoke: one per category) and size (uhd: procedural only)."""
    clips = [c for c in CLIPS if c.in_smoke] if profile == "smoke" else list(CLIPS)
    if size == "uhd":
        clips = [c for c in clips if c.source.startswith("procedural:")]
    return clips


OWNER_FILE = ".ai4m-sample.json"  # what `ai4m sample` wrote into a folder: it touches nothing else


def _planned_files(clips: list[ClipSpec], frames: int) -> list[str]:
    files = [MANIFEST, "corpus.json"]
    for spec in clips:
        files.append(f"{spec.clip}/camera.json")
        for res in ("4k", "1080p"):
            files += [f"{spec.clip}/{res}/frame_{i:04d}.png" for i in range(frames)]
    return files


def _legacy_record(root: Path) -> dict | None:
    """An ownership record for a corpus written before records existed: ``corpus.json`` with the
    generator's settings, and nothing but files the generator writes (known clip names only)."""
    stamp = root / "corpus.json"
    try:
        settings = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(settings, dict) or set(settings) != {"profile", "seed", "size", "frames"}:
        return None
    known = {c.clip for c in CLIPS}
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        parts = rel.split("/")
        if p.is_dir():
            ok = parts[0] in known and (len(parts) == 1 or (len(parts) == 2 and parts[1] in ("4k", "1080p")))
        else:
            ok = (rel in (MANIFEST, "corpus.json") or (len(parts) == 2 and parts[0] in known and parts[1] == "camera.json")
                  or (len(parts) == 3 and parts[0] in known and parts[1] in ("4k", "1080p")
                      and re.fullmatch(r"frame_\d{4}\.png", parts[2]) is not None))
            files.append(rel)
        if not ok or p.is_symlink():
            return None
    return {"made_by": "ai4m sample", "complete": True, "settings": settings, "files": sorted(files)}


def _owner_record(root: Path) -> dict | None:
    """The ownership record of a folder made by :func:`generate_sample`, or ``None``."""
    path = root / OWNER_FILE
    if not path.is_file():
        return _legacy_record(root)
    try:
        record = json.loads(path.read_text())
        files = record["files"]
        if not isinstance(files, list):
            raise TypeError("files is not a list")
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: corrupt ownership record of a sample corpus ({err}); "
                        "nothing was written") from err
    return record


def sample_settings(root: str | Path) -> dict | None:
    """Settings (profile, seed, size, frames) of the complete sample corpus in ``root``, else ``None``."""
    record = _owner_record(Path(root))
    if record is None or not record.get("complete"):
        return None
    return record.get("settings")


def generate_sample(root: str | Path = "data/sample", profile: str | None = None, seed: int = 0,
                    size: str = "proxy", frames: int | None = None, progress: bool = True,
                    replace: bool = False) -> Path:
    """Generate the sample corpus into ``root`` and write ``root/manifest.csv``.

    Never deletes or overwrites a file it did not write: ``root`` must be new, empty, or a sample
    corpus made by this function (recorded in ``root/.ai4m-sample.json``). Replacing an earlier
    corpus needs ``replace=True`` and removes only the files that corpus's record lists. Every
    file is written atomically.

    Args:
        root: output folder (created).
        profile: ``smoke`` (one clip per category, 8 frames), ``demo`` (all clips, 16 frames) or
            ``paper`` (all clips, 48 frames); default ``$AI4M_PROFILE``, else ``demo``.
        seed: the corpus is a pure function of (profile, size, seed, frames).
        size: ``"proxy"`` (384x216 / 192x108) or ``"uhd"`` (3840x2160 / 1920x1080, procedural clips).
        frames: override the number of frames per clip.
        replace: allow replacing a sample corpus made earlier in ``root``.

    Raises:
        DataError: ``root`` holds files not written by this function, or an earlier corpus and
            ``replace`` is false.
    """
    from tqdm.auto import tqdm

    profile = resolve_profile(profile)
    if size not in SIZES:
        raise ValueError(f"size must be one of {tuple(SIZES)}; got {size!r}")
    n = frames if frames is not None else profile_frames(profile)
    if n < 2:
        raise ValueError(f"frames must be >= 2 (temporal information needs a previous frame); got {n}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder; nothing was written")
    record = _owner_record(root) if root.is_dir() else None
    if record is None and root.is_dir() and any(root.iterdir()):
        raise DataError(f"{root}: folder is not empty and was not made by `ai4m sample`; "
                        "give a new or empty folder (nothing was written)")
    owned = set(record["files"]) if record else set()
    settings = {"profile": profile, "seed": seed, "size": size, "frames": n}
    if record is not None and not replace:
        raise DataError(f"{root}: holds a sample corpus made earlier ({record.get('settings')}); "
                        "pass --force (replace=True) to replace it")
    specs = clips_for(profile, size)
    planned = _planned_files(specs, n)
    for rel in planned:  # files in the way that are not ours: stop before writing anything
        target = root / rel
        if (target.exists() or target.is_symlink()) and rel not in owned:
            raise DataError(f"{target}: exists and was not written by `ai4m sample`; nothing was written")
    root.mkdir(parents=True, exist_ok=True)
    # Record ownership first (ours from before, and what we are about to write), so that a killed
    # run leaves a folder the next run may clean up.
    _write_owner(root, sorted(owned | set(planned)), settings, complete=False)
    for rel in sorted(owned - set(planned), reverse=True):  # an earlier corpus's files only
        stale = root / rel
        if stale.is_file():
            stale.unlink()
        for folder in stale.parents:  # folders it leaves empty
            if folder == root or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
    rows = [generate_clip(spec, root, n, size, seed)
            for spec in tqdm(specs, desc="sample corpus", disable=not progress)]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(root / MANIFEST, buf.getvalue())
    write_text_atomic(root / "corpus.json", json.dumps(settings))
    _write_owner(root, planned, settings, complete=True)
    return root


def _write_owner(root: Path, files: list[str], settings: dict, complete: bool) -> None:
    write_text_atomic(root / OWNER_FILE, json.dumps(
        {"made_by": "ai4m sample", "complete": complete, "settings": settings, "files": files}, indent=0))


def read_manifest(root: str | Path) -> list[dict]:
    """Rows of ``root/manifest.csv`` as dicts (numbers converted)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: no manifest (generate the sample with `ai4m sample {root}`)")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("frames", "fps", "hr_width", "hr_height", "lr_width", "lr_height"):
            if row.get(key) not in (None, ""):
                row[key] = int(row[key])
    return rows


def default_sample_root() -> Path:
    """Where the embedded sample lives: ``$AI4M_SAMPLE_ROOT``, else ``data/sample`` of the checkout
    this package runs from, else ``~/.cache/ai4m_kit/sample``."""
    env = os.environ.get("AI4M_SAMPLE_ROOT")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data" / "sample"
    return Path.home() / ".cache" / "ai4m_kit" / "sample"


def ensure_sample(root: str | Path | None = None, profile: str | None = None, seed: int = 0,
                  size: str = "proxy") -> Path:
    """Return ``root`` (default :func:`default_sample_root`), generating the sample corpus first
    unless it already exists there with the same settings. A corpus made there earlier with other
    settings is replaced (its own files only); a folder with other files is refused."""
    profile = resolve_profile(profile)
    root = default_sample_root() if root is None else Path(root)
    want = {"profile": profile, "seed": seed, "size": size, "frames": profile_frames(profile)}
    have = sample_settings(root) if root.is_dir() else None
    if have == want and (root / MANIFEST).is_file():
        return root
    return generate_sample(root, profile=profile, seed=seed, size=size, replace=True)
