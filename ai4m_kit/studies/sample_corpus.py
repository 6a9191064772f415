"""Study 00: a tour of a BSC4K-style corpus (the embedded sample or the user's own folder).

``run`` returns per-frame statistics of how the low-resolution recording differs from a bicubic
downscale of the high-resolution one; ``plot`` and ``viewer`` return HoloViews objects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from ..data import ClipPair, DataError, ensure_sample, find_clips, read_manifest
from ..profiles import resolve_profile


def corpus_rows(root: str | Path) -> list[dict]:
    """Manifest rows, or rows discovered from the folder (category "unknown") when there is none."""
    root = Path(root)
    try:
        return read_manifest(root)
    except DataError:
        names = sorted({name for name, _, label in find_clips(root) if label == "4k"})
        if not names:
            raise DataError(f"{root}: no BSC4K-style clips (folders with 4k/ and 1080p/ frame folders)")
        rows = []
        for name in names:
            pair = ClipPair(root / name)
            rows.append({"clip": name, "category": "unknown", "motion": "unknown", "source": str(root / name),
                         "frames": len(pair), "hr_width": pair.hr.size[1], "hr_height": pair.hr.size[0],
                         "lr_width": pair.lr.size[1], "lr_height": pair.lr.size[0]})
        return rows


def bicubic_half(hr: torch.Tensor) -> torch.Tensor:
    """Antialiased bicubic 2x downscale of ``(..., C, H, W)`` frames, as float in the input's code range."""
    x = hr.to(torch.float32)
    shape = x.shape
    out = F.interpolate(x.reshape(-1, *shape[-3:]), scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    return out.reshape(*shape[:-2], *out.shape[-2:])


def lr_vs_bicubic(root: str | Path, rows: list[dict] | None = None, chunk: int = 8) -> xr.Dataset:
    """Per clip and frame: mean absolute difference and PSNR of the 1080p recording vs bicubic(4K).

    Values are on the frames' code scale (0-255 for 8-bit); frames beyond the shortest clip are NaN.
    """
    root = Path(root)
    rows = rows if rows is not None else corpus_rows(root)
    n_frames = max(r["frames"] for r in rows)
    mad = np.full((len(rows), n_frames), np.nan)
    psnr = np.full((len(rows), n_frames), np.nan)
    peak = 255.0
    for c, row in enumerate(rows):
        pair = ClipPair(root / row["clip"])
        peak = float(2 ** pair.hr.bit_depth - 1)
        start = 0
        for hr, lr in zip(pair.hr.iter_chunks(chunk), pair.lr.iter_chunks(chunk)):
            diff = lr.to(torch.float32) - bicubic_half(hr).clamp(0, peak)
            mse = diff.pow(2).mean(dim=(-3, -2, -1))
            t = slice(start, start + len(hr))
            mad[c, t] = diff.abs().mean(dim=(-3, -2, -1)).numpy()
            psnr[c, t] = (10 * torch.log10(peak**2 / mse.clamp_min(1e-12))).numpy()
            start += len(hr)
    coords = {"clip": [r["clip"] for r in rows], "frame": np.arange(n_frames),
              "category": ("clip", [r["category"] for r in rows]), "motion": ("clip", [r["motion"] for r in rows])}
    return xr.Dataset(
        {"mad": (("clip", "frame"), mad, {"long_name": "mean |1080p - bicubic(4K)|", "units": "code values"}),
         "psnr": (("clip", "frame"), psnr, {"long_name": "PSNR of 1080p vs bicubic(4K)", "units": "dB"})},
        coords=coords, attrs={"root": str(root), "peak": peak})


def run(profile: str = "demo", root: str | Path | None = None, seed: int = 0) -> xr.Dataset:
    """Tour statistics for ``root`` (default: the embedded sample, generated on first use)."""
    profile = resolve_profile(profile)
    root = ensure_sample(profile=profile, seed=seed) if root is None else Path(root)
    ds = lr_vs_bicubic(root)
    ds.attrs["profile"] = profile
    return ds


def category_counts(ds: xr.Dataset):
    """Clips per category as a pandas Series (sorted by count)."""
    return ds["category"].to_series().value_counts().rename("clips")


def plot(ds: xr.Dataset) -> dict:
    """HoloViews objects: ``categories`` (bar chart) and ``psnr`` (per-frame curves per clip)."""
    import holoviews as hv

    counts = category_counts(ds)
    bars = hv.Bars([(k, int(v)) for k, v in counts.items()], "category", "clips").opts(
        title="Clips per category", xrotation=30)
    curves = {clip: hv.Curve((ds.frame.values, ds.psnr.sel(clip=clip).values), "frame", ("psnr", "PSNR (dB)"))
              for clip in ds["clip"].values}
    overlay = hv.NdOverlay(curves, kdims="clip").opts(
        title="1080p recording vs bicubic-downscaled 4K", legend_position="right", width=750)
    return {"categories": bars, "psnr": overlay}


def _png_uri(rgb: np.ndarray, max_width: int | None = None) -> str:
    import base64
    import io

    from PIL import Image

    img = Image.fromarray(rgb)
    if max_width and img.width > max_width:  # thumbnails only; crops keep native pixels
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(uri: str, caption: str, width: int) -> str:
    return (f'<figure style="margin:0 8px 8px 0"><img src="{uri}" style="width:{width}px;'
            f'image-rendering:pixelated;display:block"><figcaption style="font-size:12px">{caption}</figcaption></figure>')


def pair_panel_html(hr: torch.Tensor, lr: torch.Tensor, peak: float, width: int = 320, crop: int = 96) -> str:
    """HTML with the 4K frame, the 1080p recording and |1080p - bicubic(4K)| (x4), plus a centre crop
    of both recordings with their pixels enlarged to the same display size."""
    to8 = lambda t: (t.to(torch.float32) * (255.0 / peak)).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    diff = (lr.to(torch.float32) - bicubic_half(hr).clamp(0, peak)).abs().mean(0)
    diff8 = (diff * 4 * 255.0 / peak).round().clamp(0, 255).to(torch.uint8).numpy()
    h, w = hr.shape[-2:]
    ch, cw = min(h, crop * 9 // 16) // 2 * 2, min(w, crop) // 2 * 2
    y0, x0 = (h - ch) // 2 // 2 * 2, (w - cw) // 2 // 2 * 2
    hr_crop = hr[:, y0 : y0 + ch, x0 : x0 + cw]
    lr_crop = lr[:, y0 // 2 : (y0 + ch) // 2, x0 // 2 : (x0 + cw) // 2]
    top = (_figure(_png_uri(to8(hr), 2 * width), f"4K recording ({w}x{h})", width)
           + _figure(_png_uri(to8(lr), 2 * width), f"1080p recording ({w // 2}x{h // 2})", width)
           + _figure(_png_uri(np.repeat(diff8[..., None], 3, -1), 2 * width), "|1080p &minus; bicubic(4K)| &times;4", width))
    zoom = (_figure(_png_uri(to8(hr_crop)), f"4K centre crop {cw}x{ch}, pixels enlarged", int(1.5 * width))
            + _figure(_png_uri(to8(lr_crop)), f"1080p same region {cw // 2}x{ch // 2}", int(1.5 * width)))
    row = '<div style="display:flex;flex-wrap:wrap">{}</div>'
    return row.format(top) + row.format(zoom)


def viewer(root: str | Path, clips: list[str] | None = None, positions: int = 3):
    """Pick a clip and a frame position and see :func:`pair_panel_html` for it.

    ``positions`` evenly spaced frames per clip (first ... last) are rendered in advance and embedded
    as PNG, so the controls keep working in the static HTML report without a kernel.
    """
    import panel as pn

    root = Path(root)
    rows = corpus_rows(root)
    if clips is not None:
        rows = [r for r in rows if r["clip"] in clips]
    if not rows:
        raise ValueError(f"no clips to show in {root} (clips={clips})")
    labels = ["first", "last"] if positions == 2 else [f"{round(100 * k / (positions - 1))}%" for k in range(positions)]
    pages = {}
    for row in rows:
        pair = ClipPair(root / row["clip"])
        peak = float(2 ** pair.hr.bit_depth - 1)
        for label, where in zip(labels, np.linspace(0, 1, positions)):
            f = int(round(where * (len(pair) - 1)))
            pages[(row["clip"], label)] = f"<b>{row['clip']}</b>, frame {f}<br>" + pair_panel_html(
                pair.hr.read(f), pair.lr.read(f), peak)
    clip = pn.widgets.Select(name="clip", options=[r["clip"] for r in rows])
    where = pn.widgets.DiscreteSlider(name="frame position", options=labels)
    page = pn.bind(lambda c, w: pn.pane.HTML(pages[(c, w)], width=1000), clip, where)
    return pn.Column(pn.Row(clip, where), page)
