"""SI, TI and colourfulness against independent oracles (siti-tools, float64 numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ai4m_kit.video import (
    code_range,
    colourfulness,
    pool,
    pooled_siti,
    siti,
    spatial_information,
    temporal_information,
    ycbcr_to_rgb,
)

TOL = {torch.float32: 1e-4, torch.float64: 1e-9}


def siti_tools_reference(frames: np.ndarray, *, definition: str, bit_depth: int, color_range: str):
    """Per-frame SI and TI (NaN first) from siti-tools' own ``calculate`` loop.

    ``calculate`` reads a file through ``read_container``; it is swapped for a generator of our
    frames, cast to float64 first (siti-tools' operators overflow on uint8 arrays).
    """
    siti_mod = pytest.importorskip("siti_tools.siti")
    calc = siti_mod.SiTiCalculator(legacy=definition == "p910-2021", bit_depth=bit_depth,
                                   color_range=siti_mod.ColorRange(color_range))
    original = siti_mod.read_container
    siti_mod.read_container = lambda _: (np.asarray(f, dtype=np.float64) for f in frames)
    try:
        si, ti, n = calc.calculate("frames-in-memory")
    finally:
        siti_mod.read_container = original
    assert n == len(frames)
    return np.array(si), np.array([np.nan, *ti])


def random_frames(bit_depth: int, color_range: str, shape=(4, 40, 56), seed=0) -> np.ndarray:
    """Random code values inside the nominal range, half noise and half smooth structure."""
    rng = np.random.default_rng(seed)
    lo, hi = code_range(bit_depth, color_range)
    t, h, w = shape
    noise = rng.integers(lo, hi + 1, size=shape)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([(lo + (hi - lo) * (0.5 + 0.5 * np.sin((xx + 3 * k) / 6.0) * np.cos(yy / 9.0)))
                       for k in range(t)]).round().astype(np.int64)
    out = noise.copy()
    out[:, :, w // 2:] = smooth[:, :, w // 2:]
    return out


def _assert_close(ours: torch.Tensor, ref: np.ndarray, tol: float) -> None:
    got = ours.double().cpu().numpy()
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    err = np.nanmax(np.abs(got - ref))
    assert err <= tol, f"max abs error {err:.3g} > {tol:g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("definition", ["p910-2021", "p910-2022"])
@pytest.mark.parametrize("color_range", ["limited", "full"])
@pytest.mark.parametrize("bit_depth", [8, 10, 12])
def test_siti_matches_siti_tools_on_random_frames(bit_depth, color_range, definition, dtype, device):
    frames = random_frames(bit_depth, color_range, seed=bit_depth)
    ref_si, ref_ti = siti_tools_reference(frames, definition=definition, bit_depth=bit_depth, color_range=color_range)
    x = torch.from_numpy(frames).to(torch.uint8 if bit_depth == 8 else torch.int32).to(device)
    si, ti = siti(x, definition=definition, bit_depth=bit_depth, color_range=color_range, dtype=dtype)
    _assert_close(si, ref_si, TOL[dtype])
    _assert_close(ti, ref_ti, TOL[dtype])


@pytest.mark.parametrize("definition", ["p910-2021", "p910-2022"])
def test_float_luma_matches_siti_tools(definition):
    """Non-integer luma (as computed from RGB PNG frames) takes the direct, non-table path."""
    rng = np.random.default_rng(3)
    frames = rng.uniform(0, 255, size=(3, 30, 44))
    ref_si, ref_ti = siti_tools_reference(frames, definition=definition, bit_depth=8, color_range="full")
    for dtype in (torch.float32, torch.float64):
        si, ti = siti(torch.from_numpy(frames).to(dtype), definition=definition)
        _assert_close(si, ref_si, TOL[dtype])
        _assert_close(ti, ref_ti, TOL[dtype])


def test_full_hd_frames_float32_within_tolerance():
    """Reductions over two million pixels stay within 1e-4 in float32."""
    frames = random_frames(8, "limited", shape=(2, 1080, 1920), seed=7)
    for definition in ("p910-2021", "p910-2022"):
        ref_si, ref_ti = siti_tools_reference(frames, definition=definition, bit_depth=8, color_range="limited")
        si, ti = siti(torch.from_numpy(frames).to(torch.uint8), definition=definition, color_range="limited")
        _assert_close(si, ref_si, 1e-4)
        _assert_close(ti, ref_ti, 1e-4)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    from ai4m_kit import data
    return data.ensure_sample(tmp_path_factory.mktemp("sample"), profile="smoke")


@pytest.mark.parametrize("definition", ["p910-2021", "p910-2022"])
def test_sample_corpus_matches_siti_tools(sample_root, definition):
    from ai4m_kit.data import find_clips, open_clip

    clips = find_clips([sample_root])
    assert clips
    for _, path, _ in clips[:4]:  # two clips, both resolutions
        clip = open_clip(path)
        luma = torch.cat(list(clip.iter_chunks(chunk=8, mode="y")))
        ref_si, ref_ti = siti_tools_reference(luma.double().numpy(), definition=definition,
                                              bit_depth=clip.bit_depth, color_range=clip.color_range)
        for dtype in (torch.float32, torch.float64):
            si, ti = siti(luma, definition=definition, bit_depth=clip.bit_depth,
                          color_range=clip.color_range, dtype=dtype)
            _assert_close(si, ref_si, TOL[dtype])
            _assert_close(ti, ref_ti, TOL[dtype])


def test_chunks_with_previous_equal_whole_clip_and_batches_equal_loops():
    frames = torch.from_numpy(np.stack([random_frames(10, "full", shape=(7, 20, 24), seed=s) for s in (1, 2)]))
    frames = frames.to(torch.int32)
    kw = dict(definition="p910-2022", bit_depth=10, dtype=torch.float64)
    si, ti = siti(frames, **kw)
    assert si.shape == ti.shape == (2, 7)
    for b in range(2):
        s1, t1 = siti(frames[b], **kw)
        torch.testing.assert_close(s1, si[b], rtol=0, atol=1e-12)
        torch.testing.assert_close(t1, ti[b], rtol=0, atol=1e-12, equal_nan=True)
    s_a, t_a = siti(frames[:, :3], **kw)
    s_b, t_b = siti(frames[:, 3:], previous=frames[:, 2], **kw)
    torch.testing.assert_close(torch.cat([s_a, s_b], -1), si, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.cat([t_a, t_b], -1), ti, rtol=0, atol=1e-12, equal_nan=True)
    torch.testing.assert_close(spatial_information(frames, **kw), si, rtol=0, atol=1e-12)
    torch.testing.assert_close(temporal_information(frames, **kw), ti, rtol=0, atol=1e-12, equal_nan=True)


def test_pooling_follows_definition_and_ignores_nan():
    frames = torch.from_numpy(random_frames(8, "full", shape=(5, 16, 16))).to(torch.uint8)
    for definition, method in (("p910-2021", np.nanmax), ("p910-2022", np.nanmean)):
        si, ti = siti(frames, definition=definition, dtype=torch.float64)
        psi, pti = pooled_siti(frames, definition=definition, dtype=torch.float64)
        assert math.isclose(float(psi), method(si.numpy()), rel_tol=1e-12)
        assert math.isclose(float(pti), method(ti.numpy()), rel_tol=1e-12)
    v = torch.tensor([[math.nan, 2.0, 5.0, 1.0], [math.nan] * 4], dtype=torch.float64)
    for name, ref in (("max", np.nanmax), ("min", np.nanmin), ("mean", np.nanmean), ("median", np.nanmedian)):
        out = pool(v, name)
        assert float(out[0]) == pytest.approx(ref(v[0].numpy()))
        assert math.isnan(float(out[1]))


def test_limited_range_excursions_are_clipped_by_the_display_model():
    base = torch.from_numpy(random_frames(8, "limited", shape=(2, 12, 12))).to(torch.uint8)
    under = base.clone()
    under[base == 16] = 3  # footroom below black shows as black
    for dtype in (torch.float32,):
        a = siti(base, definition="p910-2022", color_range="limited", dtype=dtype)
        b = siti(under, definition="p910-2022", color_range="limited", dtype=dtype)
        torch.testing.assert_close(a, b, equal_nan=True)


def colourfulness_reference(rgb: np.ndarray) -> float:
    rgb = rgb.astype(np.float64)
    rg = rgb[0] - rgb[1]
    yb = 0.5 * (rgb[0] + rgb[1]) - rgb[2]
    return math.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_colourfulness_matches_numpy_reference(bit_depth, device):
    rng = np.random.default_rng(bit_depth)
    top = (1 << bit_depth) - 1
    rgb = rng.integers(0, top + 1, size=(2, 3, 3, 20, 30))
    rgb[0, 1, 0] //= 3  # a reddish frame
    x = torch.from_numpy(rgb).to(torch.uint8 if bit_depth == 8 else torch.int32).to(device)
    for dtype in (torch.float32, torch.float64):
        cf = colourfulness(x, bit_depth=bit_depth, dtype=dtype).cpu()
        assert cf.shape == (2, 3)
        ref = np.array([[colourfulness_reference(f * 255.0 / top) for f in clip] for clip in rgb])
        np.testing.assert_allclose(cf.double().numpy(), ref, rtol=0, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("color_range", ["limited", "full"])
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_ycbcr_to_rgb_inverts_the_bt709_encoding(bit_depth, color_range):
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, size=(3, 16, 16))
    kr, kb = 0.2126, 0.0722
    y = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2]
    cb = (rgb[2] - y) / (2 * (1 - kb))
    cr = (rgb[0] - y) / (2 * (1 - kr))
    lo, hi = code_range(bit_depth, color_range)
    span = (224 << (bit_depth - 8)) if color_range == "limited" else (1 << bit_depth) - 1
    mid = 1 << (bit_depth - 1)
    ycc = np.stack([lo + (hi - lo) * y, mid + span * cb, mid + span * cr])
    out = ycbcr_to_rgb(torch.from_numpy(ycc), bit_depth=bit_depth, color_range=color_range)
    np.testing.assert_allclose(out.numpy(), 255 * rgb, atol=1e-9)
    cf_ycc = colourfulness(torch.from_numpy(ycc), colour_space="ycbcr", bit_depth=bit_depth, color_range=color_range)
    assert float(cf_ycc) == pytest.approx(colourfulness_reference(255 * rgb), abs=1e-9)


def test_grey_frames_have_zero_colourfulness_and_flat_frames_zero_si():
    grey = torch.full((2, 3, 8, 8), 77, dtype=torch.uint8)
    assert torch.all(colourfulness(grey) == 0)
    assert torch.all(spatial_information(grey[:, 0]) == 0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="luma must be a torch.Tensor"):
        spatial_information(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"at least 3×3"):
        spatial_information(torch.zeros(4, 2, 8))
    with pytest.raises(ValueError, match="definition must be one of"):
        spatial_information(torch.zeros(8, 8), definition="p910-1999")
    with pytest.raises(ValueError, match="color_range must be one of"):
        spatial_information(torch.zeros(8, 8), color_range="tv")
    with pytest.raises(ValueError, match="bit_depth must be an int in 8..16"):
        spatial_information(torch.zeros(8, 8), bit_depth=7)
    with pytest.raises(ValueError, match=r"10-bit code values in 0..1023; got values in 0..2000"):
        spatial_information(torch.tensor([[0, 2000, 3]] * 3, dtype=torch.int32), bit_depth=10)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, H, W\)"):
        siti(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="previous must be shaped"):
        siti(torch.zeros(3, 8, 8), previous=torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"image must be shaped \(\.\.\., 3, H, W\)"):
        colourfulness(torch.zeros(4, 8, 8))
    with pytest.raises(ValueError, match="method must be one of"):
        pool(torch.zeros(3), "p95")
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        spatial_information(torch.zeros(8, 8), dtype=torch.float16)


@pytest.mark.parametrize("definition", ["p910-2021", "p910-2022"])
def test_si_ti_gradients_pass_gradcheck(definition):
    """On float luma SI and TI are differentiable (e.g. as a regulariser); check against finite differences."""
    gen = torch.Generator().manual_seed(0)
    luma = (torch.rand(3, 7, 9, generator=gen, dtype=torch.float64) * 200 + 20).requires_grad_()

    def f(y):
        si, ti = siti(y, definition=definition)
        return si, ti[1:]

    assert torch.autograd.gradcheck(f, (luma,), eps=1e-6, atol=1e-6)
    si, _ = siti(luma.detach(), definition=definition)  # the in-place fast path gives the same values
    torch.testing.assert_close(f(luma)[0].detach(), si, rtol=0, atol=1e-12)


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(a=st.floats(0.1, 4.0), b=st.floats(-100.0, 100.0), seed=st.integers(0, 2**16),
                  h=st.integers(3, 12), w=st.integers(3, 12))
def test_legacy_si_ti_are_shift_invariant_and_scale_equivariant(a, b, seed, h, w):
    y = torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 255
    si, ti = siti(y)
    si2, ti2 = siti(a * y + b)
    torch.testing.assert_close(si2, a * si, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ti2, a * ti, rtol=1e-9, atol=1e-9, equal_nan=True)
