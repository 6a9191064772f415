"""PSNR, SSIM and MS-SSIM against scikit-image and an independent float64 NumPy transcription of
Wang's ssim.m / msssim.m; pooling; measure_pair on frame folders and videos."""

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d, fftconvolve
from scipy.stats import hmean
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ai4m_kit.data import DataError, open_clip, write_png, write_video
from ai4m_kit.quality import measure_pair, ms_ssim, pool_frames, psnr, rgb_to_y, ssim
from ai4m_kit.quality.metrics import parse_metrics, wang_downsample_factor

TOL = 1e-5  # float32 against float64 oracles (the brief asks for 1e-4 or better)


# --- independent oracles, float64 NumPy ----------------------------------------------------------

def fspecial_gaussian(size=11, sigma=1.5):
    r = (size - 1) / 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    h = np.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def imfilter_box_symmetric(img, f):
    """MATLAB imfilter(img, ones(f)/f^2, 'symmetric', 'same'): kernel centre at floor((f+1)/2)."""
    c = (f + 1) // 2  # 1-based centre
    padded = np.pad(img, ((c - 1, f - c), (c - 1, f - c)), mode="symmetric")
    return correlate2d(padded, np.full((f, f), 1.0 / f ** 2), mode="valid")


def ssim_index_new(a, b, L=1.0):
    """ssim.m's core on 2-D float64: (mean SSIM, mean contrast-structure) over the valid region."""
    w = fspecial_gaussian()

    def filter2_valid(img):  # filter2(w, img, 'valid'): correlation, here as an FFT convolution with w flipped
        return fftconvolve(img, w[::-1, ::-1], mode="valid")

    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    mu1, mu2 = filter2_valid(a), filter2_valid(b)
    s1 = filter2_valid(a * a) - mu1 ** 2
    s2 = filter2_valid(b * b) - mu2 ** 2
    s12 = filter2_valid(a * b) - mu1 * mu2
    cs = (2 * s12 + c2) / (s1 + s2 + c2)
    ssim_map = (2 * mu1 * mu2 + c1) / (mu1 ** 2 + mu2 ** 2 + c1) * cs
    return ssim_map.mean(), cs.mean()


def matlab_ssim(a, b, L=1.0, downsample=True):
    f = max(1, int(np.floor(min(a.shape) / 256 + 0.5)))
    if downsample and f > 1:
        a, b = imfilter_box_symmetric(a, f)[::f, ::f], imfilter_box_symmetric(b, f)[::f, ::f]
    return ssim_index_new(a, b, L)[0]


def matlab_msssim(a, b, L=1.0):
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    mcs, ms = [], []
    for _ in weights:
        s, cs = ssim_index_new(a, b, L)
        ms.append(s)
        mcs.append(cs)
        a, b = imfilter_box_symmetric(a, 2)[::2, ::2], imfilter_box_symmetric(b, 2)[::2, ::2]
    return np.prod(np.array(mcs[:-1]) ** weights[:-1]) * ms[-1] ** weights[-1]


def oracle_y(rgb01, matrix, y_range):
    """Y of (H, W, 3) floats in [0, 1], scaled to [0, 1]: scikit-image for BT.601, the standard's Kr, Kb for BT.709."""
    if matrix == "bt601":
        return color.rgb2ycbcr(rgb01)[..., 0] / 255 if y_range == "limited" else color.rgb2yuv(rgb01)[..., 0]
    kr, kb = 0.2126, 0.0722
    y = kr * rgb01[..., 0] + (1 - kr - kb) * rgb01[..., 1] + kb * rgb01[..., 2]
    return (16 + 219 * y) / 255 if y_range == "limited" else y


# --- test images -------------------------------------------------------------------------------

def photo(h, w, seed=0):
    """An (h, w, 3) uint8 crop of scikit-image photographs (tiled when larger), plus a distorted copy."""
    tiles = np.concatenate([data.astronaut()[:400], data.coffee()], axis=1)
    big = np.tile(tiles, (1 + h // tiles.shape[0], 1 + w // tiles.shape[1], 1))[:h, :w]
    rng = np.random.default_rng(seed)
    blurred = (big.astype(float) + np.roll(big, 1, axis=1) + np.roll(big, 1, axis=0)) / 3
    dist = np.clip(blurred + rng.normal(0, 6, big.shape), 0, 255)
    return big.astype(np.uint8), dist.astype(np.uint8)


def chw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


@pytest.fixture(scope="module")
def pair512():
    return photo(512, 600)


# --- conventions -------------------------------------------------------------------------------

@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("y_range", ["limited", "full"])
def test_y_conventions_against_oracles(pair512, matrix, y_range):
    ref, dist = pair512
    r01, d01 = ref / 255.0, dist / 255.0
    y = rgb_to_y(chw(r01), matrix=matrix, y_range=y_range)[0].numpy()
    np.testing.assert_allclose(y, oracle_y(r01, matrix, y_range), atol=1e-12)
    yr, yd = oracle_y(r01, matrix, y_range), oracle_y(d01, matrix, y_range)
    kw = dict(matrix=matrix, y_range=y_range)
    assert abs(float(psnr(chw(ref), chw(dist), **kw)) - peak_signal_noise_ratio(yr, yd, data_range=1.0)) < 1e-4
    sk = structural_similarity(yr, yd, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert abs(float(ssim(chw(ref), chw(dist), downsample=False, **kw)) - sk) < TOL
    assert abs(float(ssim(chw(ref), chw(dist), **kw)) - matlab_ssim(yr, yd)) < TOL
    assert abs(float(ms_ssim(chw(ref), chw(dist), **kw)) - matlab_msssim(yr, yd)) < TOL


def test_rgb_channel_against_scikit_image(pair512):
    ref, dist = pair512
    sk = structural_similarity(ref, dist, channel_axis=2, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=255)
    assert abs(float(ssim(chw(ref), chw(dist), channel="rgb", downsample=False)) - sk) < TOL
    assert abs(float(psnr(chw(ref), chw(dist), channel="rgb")) - peak_signal_noise_ratio(ref, dist, data_range=255)) < 1e-4
    per_channel = [matlab_ssim(ref[..., c] / 255.0, dist[..., c] / 255.0) for c in range(3)]
    assert abs(float(ssim(chw(ref), chw(dist), channel="rgb")) - np.mean(per_channel)) < TOL


@pytest.mark.parametrize("size", [(720, 803), (1030, 1041), (300, 451)])
def test_wang_downsampling_factors(size):
    ref, dist = photo(*size, seed=1)
    yr, yd = oracle_y(ref / 255.0, "bt601", "limited"), oracle_y(dist / 255.0, "bt601", "limited")
    f = wang_downsample_factor(*size)
    assert f == {720: 3, 1030: 4, 300: 1}[size[0]]
    ours, no_ds = float(ssim(chw(ref), chw(dist))), float(ssim(chw(ref), chw(dist), downsample=False))
    assert abs(ours - matlab_ssim(yr, yd)) < TOL
    assert abs(no_ds - matlab_ssim(yr, yd, downsample=False)) < TOL
    assert (ours != no_ds) == (f > 1)


@pytest.mark.parametrize("bits", [8, 10, 16])
def test_bit_depths_and_crop_border(bits):
    ref8, dist8 = photo(256, 300, seed=2)
    rng = np.random.default_rng(bits)
    peak = 2 ** bits - 1
    ref = np.round(ref8 / 255 * peak + rng.uniform(-0.5, 0.5, ref8.shape) * (bits > 8)).clip(0, peak).astype(np.int64)
    dist = np.round(dist8 / 255 * peak).astype(np.int64)
    r01, d01 = ref / peak, dist / peak
    yr, yd = oracle_y(r01, "bt601", "limited")[4:-4, 4:-4], oracle_y(d01, "bt601", "limited")[4:-4, 4:-4]
    r, d = chw(ref).to(torch.int32), chw(dist).to(torch.int32)
    kw = dict(bit_depth=bits, crop_border=4)
    assert abs(float(psnr(r, d, **kw)) - peak_signal_noise_ratio(yr, yd, data_range=1.0)) < 1e-4
    assert abs(float(ssim(r, d, **kw)) - matlab_ssim(yr, yd)) < TOL
    sk = structural_similarity(ref[4:-4, 4:-4], dist[4:-4, 4:-4], channel_axis=2, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=peak)
    assert abs(float(ssim(r, d, channel="rgb", downsample=False, **kw)) - sk) < TOL


def test_batched_equals_one_by_one_and_float64():
    frames = [photo(200, 240, seed=s) for s in range(3)]
    ref = torch.stack([chw(r) for r, _ in frames])
    dist = torch.stack([chw(d) for _, d in frames])
    for fn in (psnr, ssim, ms_ssim):
        batch = fn(ref, dist)
        assert batch.shape == (3,) and batch.dtype == torch.float64
        one = torch.stack([fn(ref[i], dist[i]) for i in range(3)])
        torch.testing.assert_close(batch, one, rtol=0, atol=1e-6)
        torch.testing.assert_close(fn(ref, dist, dtype=torch.float64), batch, rtol=0, atol=1e-5)
    assert psnr(ref, ref).isinf().all() and torch.allclose(ssim(ref, ref), torch.ones(3, dtype=torch.float64))


def test_bad_inputs():
    x = torch.rand(3, 64, 64)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, torch.rand(3, 64, 60))
    with pytest.raises(TypeError, match="bit_depth"):
        ssim(x.mul(1023).to(torch.int32), x.mul(1023).to(torch.int32))
    with pytest.raises(ValueError, match=r"floats in \[0, 1\]"):
        psnr(x * 255, x * 255)
    with pytest.raises(ValueError, match="channel must be one of"):
        ssim(x, x, channel="yuv")
    with pytest.raises(ValueError, match="RGB frames"):
        psnr(x[:1], x[:1])
    with pytest.raises(ValueError, match="matrix must be one of"):
        psnr(x, x, matrix="bt2020")
    with pytest.raises(ValueError, match="crop_border 32 leaves nothing"):
        psnr(x, x, crop_border=32)
    with pytest.raises(ValueError, match="161x161"):
        ms_ssim(x, x)
    with pytest.raises(ValueError, match="unknown metric 'lpips'"):
        parse_metrics("psnr,lpips")


def test_pool_frames():
    v = np.array([30.0, 35.0, 20.0, 40.0, 33.0])
    assert pool_frames(v) == pytest.approx(v.mean())
    assert pool_frames(torch.tensor(v), "harmonic") == pytest.approx(hmean(v))
    assert pool_frames(v, "percentile", q=5) == pytest.approx(np.percentile(v, 5))
    assert pool_frames(list(v), "min") == 20.0
    assert np.isnan(pool_frames([1.0, np.nan]))
    with pytest.raises(ValueError, match="how must be one of"):
        pool_frames(v, "median")
    with pytest.raises(ValueError, match="values > 0"):
        pool_frames([1.0, 0.0], "harmonic")
    with pytest.raises(ValueError, match="q must be"):
        pool_frames(v, "percentile", q=120)


# --- measure_pair -----------------------------------------------------------------------------

def write_folder(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        write_png(folder / f"frame_{i:04d}.png", f)
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    pairs = [photo(96, 128, seed=s) for s in range(5)]
    ref = write_folder(root / "ref", [r for r, _ in pairs])
    dist = write_folder(root / "dist", [d for _, d in pairs])
    return root, ref, dist, pairs


def test_measure_pair_frame_folders_streaming(clips):
    root, ref, dist, pairs = clips
    ds = measure_pair(ref, dist, ("psnr", "ssim"), chunk=2, crop_border=2)
    whole = measure_pair(ref, dist, "psnr,ssim", chunk=100, crop_border=2)
    r = torch.stack([chw(a) for a, _ in pairs])
    d = torch.stack([chw(b) for _, b in pairs])
    assert set(ds.data_vars) == {"psnr", "ssim"} and ds.sizes["frame"] == 5
    np.testing.assert_allclose(ds["psnr"].values, psnr(r, d, crop_border=2).numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(ds["ssim"].values, ssim(r, d, crop_border=2).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ds["psnr"].values, whole["psnr"].values)
    np.testing.assert_array_equal(ds["ssim"].values, whole["ssim"].values)
    assert ds.attrs["matrix"] == "bt601" and ds.attrs["crop_border"] == 2 and "BasicSR" in ds["psnr"].attrs["description"]
    assert ds["psnr"].attrs["mean"] == pytest.approx(float(ds["psnr"].mean()))


def test_measure_pair_video_files(clips, tmp_path):
    _, _, _, pairs = clips
    big = [photo(176, 192, seed=s) for s in range(3)]
    ref_v = write_video(tmp_path / "ref.mkv", np.stack([a.transpose(2, 0, 1) for a, _ in big]))
    dist_v = write_video(tmp_path / "dist.mkv", np.stack([b.transpose(2, 0, 1) for _, b in big]))
    ds = measure_pair(ref_v, dist_v, ("psnr", "ssim", "ms_ssim"), chunk=2, channel="rgb")
    r = torch.stack(list(open_clip(ref_v).iter_chunks(10, "rgb")))[0]
    d = torch.stack(list(open_clip(dist_v).iter_chunks(10, "rgb")))[0]
    np.testing.assert_allclose(ds["psnr"].values, psnr(r, d, channel="rgb").numpy(), atol=1e-9)
    np.testing.assert_allclose(ds["ms_ssim"].values, ms_ssim(r, d, channel="rgb").numpy(), atol=1e-9)
    assert np.all(ds["ssim"].values < 1) and np.all(ds["ssim"].values > 0.3)


def test_measure_pair_mismatches(clips, tmp_path):
    root, ref, dist, pairs = clips
    short = write_folder(tmp_path / "short", [d for _, d in pairs[:4]])
    with pytest.raises(DataError, match=r"ref has 5 frames, .*short has 4"):
        measure_pair(ref, short)
    small = write_folder(tmp_path / "small", [d[::2, ::2] for _, d in pairs])
    with pytest.raises(DataError, match=r"ref is 128x96, .*small is 64x48; pass scale_to='ref'"):
        measure_pair(ref, small)
    scaled = measure_pair(ref, small, "psnr", scale_to="ref")
    assert scaled.attrs["distorted_scaling"].startswith("bicubic x2") and np.all(scaled["psnr"].values > 15)
    odd = write_folder(tmp_path / "odd", [d[:, :100] for _, d in pairs])
    with pytest.raises(DataError, match="same integer factor"):
        measure_pair(ref, odd, scale_to="ref")
    deep = write_folder(tmp_path / "deep", [d.astype(np.uint16) * 257 for _, d in pairs])
    with pytest.raises(DataError, match="8-bit frames, .*deep 16-bit"):
        measure_pair(ref, deep)
    with pytest.raises(DataError, match="no such frame folder or video file"):
        measure_pair(ref, tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown metric 'vif'"):
        measure_pair(ref, dist, ("psnr", "vif"))


def test_inputs_are_not_modified():
    x, y = torch.rand(2, 3, 40, 48), torch.rand(2, 3, 40, 48)
    x0, y0 = x.clone(), y.clone()
    for fn in (psnr, ssim):
        fn(x, y)
        fn(x, y, channel="rgb")
    rgb_to_y(x)
    assert torch.equal(x, x0) and torch.equal(y, y0)
