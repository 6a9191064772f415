"""Degradations: MATLAB bicubic against a NumPy oracle and Pillow, Gaussian kernels, BSRGAN parameter
ranges and branches, per-clip consistency, determinism, input errors, the CLI and the benchmark."""

import copy
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ai4m_kit.cli import main
from ai4m_kit.data import read_png, write_png
from ai4m_kit.video.degrade import (
    BSRGAN_STEPS,
    RESIZE_MODES,
    bicubic_down,
    blur_down,
    bsrgan,
    bsrgan_params,
    degrade,
    degrade_params,
    gaussian_kernel,
)


def _smooth(shape, seed=0):
    """Smooth content in [0, 1] (random low-frequency waves), float32."""
    g = np.random.default_rng(seed)
    *lead, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros(shape)
    for idx in np.ndindex(*lead):
        f = g.uniform(0.05, 0.4, 4)
        out[idx] = 0.5 + 0.2 * np.sin(f[0] * xx + f[1] * yy) + 0.2 * np.cos(f[2] * xx - f[3] * yy)
    return torch.as_tensor(out, dtype=torch.float32)


# ------------------------------------------------------------------------------------ MATLAB oracle

def _matlab_imresize_1d(a: np.ndarray, scale: float, axis: int) -> np.ndarray:
    """MATLAB imresize (bicubic, antialiasing) along one axis, written from MATLAB's documented
    contributions(): loops, 1-based coordinates, symmetric boundary."""
    a = np.moveaxis(a, axis, -1)
    n_in = a.shape[-1]
    n_out = int(round(n_in / scale))
    s = 1 / scale

    def cubic(x):
        x = abs(x)
        if x <= 1:
            return 1.5 * x ** 3 - 2.5 * x ** 2 + 1
        if x <= 2:
            return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2
        return 0.0

    out = np.zeros(a.shape[:-1] + (n_out,))
    width = 4 / s
    for i in range(1, n_out + 1):
        u = i / s + 0.5 * (1 - 1 / s)
        left = math.floor(u - width / 2)
        taps = [left + p for p in range(math.ceil(width) + 2)]
        weights = np.array([s * cubic(s * (u - j)) for j in taps])
        weights /= weights.sum()
        for j, wt in zip(taps, weights):
            k = (j - 1) % (2 * n_in)
            k = k if k < n_in else 2 * n_in - 1 - k
            out[..., i - 1] += wt * a[..., k]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("scale,shape", [(2, (12, 16)), (3, (12, 18)), (4, (16, 12)), (1.5, (12, 18))])
def test_bicubic_matches_matlab_oracle(scale, shape):
    x = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = _matlab_imresize_1d(_matlab_imresize_1d(x.numpy(), scale, -1), scale, -2)
    got = bicubic_down(x, scale)
    assert got.shape == (2, 3, round(shape[0] / scale), round(shape[1] / scale))
    # the oracle does not clamp; random data can ring slightly outside [0, 1]
    assert np.abs(got.numpy() - np.clip(want, 0, 1)).max() < 1e-12
    got32 = bicubic_down(x.float(), scale)
    assert np.abs(got32.double().numpy() - np.clip(want, 0, 1)).max() < 2e-6


def test_bicubic_close_to_pillow():
    # Pillow's BICUBIC reduce: same a = -0.5 kernel, widened, same centres; it clips and renormalises at
    # the border (MATLAB mirrors) and rounds to 8 bits. Measured: interior within 1 code, border within 6.
    x = _smooth((3, 48, 64), seed=2)
    codes = (x * 255).round().to(torch.uint8)
    pil = Image.fromarray(codes.permute(1, 2, 0).numpy()).resize((32, 24), Image.BICUBIC, reducing_gap=None)
    ref = torch.from_numpy(np.asarray(pil).astype(np.float64)).permute(2, 0, 1)
    ours = bicubic_down(codes.double() / 255, 2) * 255
    diff = (ours - ref).abs()
    assert diff[:, 2:-2, 2:-2].max() <= 1.0
    assert diff.max() <= 6.0


def test_bicubic_constant_and_c1():
    x = torch.full((1, 1, 8, 12), 0.3)
    y = bicubic_down(x, 4)
    assert y.shape == (1, 1, 2, 3) and torch.allclose(y, torch.full_like(y, 0.3))


# ---------------------------------------------------------------------------------- Gaussian kernels

def test_gaussian_kernel_sums_to_one_and_is_symmetric():
    k = gaussian_kernel(9, 1.7)
    assert k.dtype == torch.float64 and k.shape == (9, 9)
    assert abs(float(k.sum()) - 1) < 1e-12
    assert torch.equal(k, k.flip(0)) and torch.equal(k, k.flip(1)) and torch.allclose(k, k.T)
    a = gaussian_kernel(15, 3.0, 0.8, 0.6, dtype=torch.float32)
    assert a.dtype == torch.float32 and abs(float(a.sum()) - 1) < 1e-6
    assert torch.allclose(a, a.flip(0, 1))  # point symmetric
    assert not torch.allclose(a, a.T)      # rotated: no longer symmetric about the diagonal
    # theta = 0: sigma_x spreads along columns (x), sigma_y along rows (y)
    b = gaussian_kernel(11, 2.5, 0.7)
    assert float(b[5, 0]) > float(b[0, 5])


def test_gaussian_kernel_errors():
    with pytest.raises(ValueError, match="size must be a positive odd integer.*got 4"):
        gaussian_kernel(4, 1.0)
    with pytest.raises(ValueError, match="sigma_y must be a finite number > 0; got 0"):
        gaussian_kernel(5, 1.0, 0.0)


def test_blur_down_keeps_top_left_sample():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    x[..., 2, 4] = 1.0
    k = gaussian_kernel(3, 0.01)  # practically a delta
    y = blur_down(x, 2, kernel=k)
    assert y.shape == (1, 1, 4, 4) and float(y[0, 0, 1, 2]) == pytest.approx(1.0)
    x[..., 2, 4], x[..., 3, 5] = 0.0, 1.0  # odd positions are dropped
    assert float(blur_down(x, 2, kernel=k).max()) < 1e-12


def test_blur_down_matches_direct_convolution():
    from scipy import ndimage

    x = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for sigma in (1.2, (2.0, 0.6, 0.9)):
        k = gaussian_kernel(7, 1.2) if sigma == 1.2 else gaussian_kernel(13, 2.0, 0.6, 0.9)
        want = np.stack([ndimage.convolve(c, k.numpy(), mode="mirror") for c in x.numpy()])[:, ::2, ::2]
        got = blur_down(x, 2, kernel=k)
        assert np.abs(got.numpy() - want).max() < 1e-10


# ----------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("kind", ["bicubic", "blur", "bsrgan"])
@pytest.mark.parametrize("scale", [2, 4])
def test_shapes_and_range(kind, scale):
    x = _smooth((3, 3, 32, 48))
    lr, params = degrade(x, kind, scale, seed=4)
    assert lr.shape == (3, 3, 32 // scale, 48 // scale) and lr.dtype == torch.float32
    assert float(lr.min()) >= 0 and float(lr.max()) <= 1
    assert params["kind"] == kind and params["scale"] == scale
    assert json.loads(json.dumps(params)) == params


def test_one_channel_and_single_frame():
    lr, p = degrade(_smooth((1, 16, 16)), "bsrgan", 2, seed=7)
    assert lr.shape == (1, 8, 8)


# ------------------------------------------------------------------------- determinism, consistency

def test_same_seed_same_bytes_other_seed_differs():
    x = _smooth((2, 3, 32, 32))
    for kind in ("blur", "bsrgan"):
        a, pa = degrade(x, kind, 2, seed=11)
        b, pb = degrade(x, kind, 2, seed=11)
        c, pc = degrade(x, kind, 2, seed=12)
        assert torch.equal(a, b) and pa == pb
        assert pa != pc and not torch.equal(a, c)


def _quiet(params):
    p = copy.deepcopy(params)
    p["noise"] = p["jpeg"] = p["final_jpeg"] = None
    return p


def test_same_parameters_for_every_frame():
    frame = _smooth((1, 3, 32, 32))
    clip = frame.expand(5, 3, 32, 32).contiguous()
    for seed in range(4):
        p = bsrgan_params(4, torch.Generator().manual_seed(seed), height=32, width=32)
        lr, _ = bsrgan(clip, 4, params=_quiet(p))
        assert all(torch.equal(lr[0], lr[t]) for t in range(1, 5))
        # with JPEG on, frames stay identical (same quality); noise realisations differ per frame
        p_jpeg = dict(_quiet(p), final_jpeg=p["final_jpeg"])
        lr, _ = bsrgan(clip, 4, params=p_jpeg)
        assert all(torch.equal(lr[0], lr[t]) for t in range(1, 5))
    p = dict(p, noise={"mode": "channel", "level": 10, "sigma": 10 / 255}, jpeg=None, final_jpeg=None)
    lr, _ = bsrgan(clip, 4, params=p, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(lr[0], lr[1])


def test_params_do_not_depend_on_clip_length_and_chunks_match():
    clip = _smooth((6, 3, 32, 32))
    _, p_half = degrade(clip[:3], "bsrgan", 2, seed=21)
    whole, p_whole = degrade(clip, "bsrgan", 2, seed=21)
    assert p_half == p_whole
    g = torch.Generator().manual_seed(21)
    params = degrade_params("bsrgan", 2, height=32, width=32, generator=g)
    params["noise"] = {"mode": "general", "level": 25, "sigma": 25 / 255,
                       "covariance": [[4e-3, 1e-3, 0.0], [1e-3, 3e-3, 0.0], [0.0, 0.0, 2e-3]]}
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    chunked = torch.cat([bsrgan(clip[:4], 2, params=params, generator=g1)[0],
                         bsrgan(clip[4:], 2, params=params, generator=g1)[0]])
    at_once, _ = bsrgan(clip, 2, params=params, generator=g2)
    assert torch.equal(chunked, at_once)


def test_params_round_trip_through_json():
    x = _smooth((2, 3, 32, 32))
    _, p = degrade(x, "bsrgan", 4, seed=3)
    # with params given, the seed's generator only draws the noise realisations
    lr, _ = degrade(x, "bsrgan", 4, seed=5, params=p)
    again, _ = degrade(x, "bsrgan", 4, seed=5, params=json.loads(json.dumps(p)))
    assert torch.equal(lr, again)


def test_device_matches_cpu(device):
    x = _smooth((2, 3, 32, 32))
    p = _quiet(bsrgan_params(2, torch.Generator().manual_seed(8), height=32, width=32))
    cpu, _ = bsrgan(x, 2, params=p)
    dev, _ = bsrgan(x.to(device), 2, params=p)
    assert dev.device.type == device.type
    assert torch.allclose(dev.cpu(), cpu, atol=1e-5)


# ----------------------------------------------------------------------------- published ranges

def test_bsrgan_params_ranges_and_every_branch():
    seen = {k: set() for k in ("prescale", "blur", "sizes", "down2", "mode2", "mode3", "noise", "jpeg", "first",
                               "last")}
    orders = set()
    for seed in range(300):
        scale = 4 if seed % 2 else 2
        p = bsrgan_params(scale, torch.Generator().manual_seed(seed), height=64, width=96)
        assert sorted(p["order"]) == sorted(BSRGAN_STEPS)
        assert p["order"].index("down2") < p["order"].index("down3")
        orders.add(tuple(p["order"]))
        seen["first"].add(p["order"][0])
        seen["last"].add(p["order"][-1])
        sf = p["stage_scale"]
        if scale == 2:
            assert p["prescale"] is None and sf == 2
        else:
            seen["prescale"].add(None if p["prescale"] is None else p["prescale"]["mode"])
            assert sf == (4 if p["prescale"] is None else 2)
        for b in (p["blur1"], p["blur2"]):
            seen["blur"].add(b["type"])
            seen["sizes"].add(b["size"])
            assert b["size"] in range(7, 26, 2) and np.asarray(b["kernel"]).shape == (b["size"], b["size"])
            assert abs(np.sum(b["kernel"]) - 1) < 1e-9
            if b["type"] == "isotropic":
                assert 0 <= b["sigma"] < 2 + 0.2 * sf
            else:
                assert 0 <= b["l1"] < 4 + sf and 0 <= b["l2"] < 4 + sf and 0 <= b["theta"] < math.pi
        d2 = p["down2"]
        seen["down2"].add(d2["path"])
        if d2["path"] == "resize":
            seen["mode2"].add(d2["mode"])
            assert 1 <= d2["factor"] < 2 * sf
            h0 = 64 // (scale // sf)
            assert d2["size"][0] == max(1, int(h0 / d2["factor"]))
        else:
            assert 0.1 <= d2["sigma"] < 0.6 * sf and d2["stride"] == sf and d2["shift"] == (sf - 1) / 2
            assert np.asarray(d2["kernel"]).shape == (25, 25)
        seen["mode3"].add(p["down3"]["mode"])
        assert p["down3"]["size"] == [64 // scale, 96 // scale]
        n = p["noise"]
        seen["noise"].add(n["mode"])
        if n["mode"] == "general":
            cov = np.asarray(n["covariance"])
            assert np.allclose(cov, cov.T) and np.linalg.eigvalsh(cov).min() > -1e-15
            assert np.linalg.eigvalsh(cov).max() <= (25 / 255) ** 2 + 1e-12
        else:
            assert 2 <= n["level"] <= 25 and n["sigma"] == n["level"] / 255
        seen["jpeg"].add(p["jpeg"] is None)
        for q in (p["jpeg"], p["final_jpeg"]):
            if q is not None:
                assert 30 <= q["quality"] <= 95
    assert seen["prescale"] == {None, "matlab_bicubic", *RESIZE_MODES}
    assert seen["blur"] == {"isotropic", "anisotropic"} and seen["sizes"] == set(range(7, 26, 2))
    assert seen["down2"] == {"resize", "nearest"}
    assert seen["mode2"] == seen["mode3"] == set(RESIZE_MODES)
    assert seen["noise"] == {"channel", "gray", "general"} and seen["jpeg"] == {True, False}
    assert seen["first"] == set(BSRGAN_STEPS) - {"down3"} and seen["last"] == set(BSRGAN_STEPS) - {"down2"}
    assert len(orders) > 150  # 360 orders are possible


def test_blur_params_range():
    sig = [degrade_params("blur", s, height=8, width=8, generator=torch.Generator().manual_seed(i))["sigma"]
           for i in range(50) for s in (2, 4)]
    assert min(sig) >= 0.2 and max(sig[1::2]) <= 4.0 and max(sig[0::2]) <= 2.0


# ------------------------------------------------------------------------------------------- errors

def test_bad_inputs():
    ok = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"frames must be \(..., C, H, W\).*got ndim 2"):
        degrade(torch.rand(8, 8), "bicubic")
    with pytest.raises(ValueError, match="C = 1 or 3 channels.*got C = 4"):
        degrade(torch.rand(2, 4, 8, 8), "bicubic")
    with pytest.raises(TypeError, match="must be a float tensor in \\[0, 1\\]; got dtype torch.uint8"):
        degrade(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "bsrgan")
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]; got min 0, max 2"):
        degrade(ok * 0 + torch.tensor([0.0, 2.0]).repeat(4).view(1, 1, 1, 8), "blur")
    degrade(ok.clamp(0, 1) + 5e-7 * (ok > 0.999), "bicubic")  # within the 1e-6 tolerance
    with pytest.raises(ValueError, match="scale must be > 1 for bicubic_down; got 1"):
        bicubic_down(ok, 1)
    with pytest.raises(ValueError, match="scale must be an integer >= 2 for blur_down; got 1.5"):
        blur_down(ok, 1.5, sigma=1.0)
    with pytest.raises(ValueError, match="scale must be one of \\(2, 4\\) for bsrgan; got 3"):
        degrade(torch.rand(1, 3, 12, 12), "bsrgan", 3)
    with pytest.raises(ValueError, match="height 10 is not divisible by the scale 4"):
        degrade(torch.rand(1, 3, 10, 8), "bicubic", 4)
    with pytest.raises(ValueError, match="width 9 is not divisible by the scale 2"):
        degrade(torch.rand(1, 3, 8, 9), "bsrgan", 2)
    with pytest.raises(ValueError, match="frames is empty"):
        degrade(torch.rand(0, 3, 8, 8), "bsrgan")
    with pytest.raises(ValueError, match="kind must be one of \\('bicubic', 'blur', 'bsrgan'\\); got 'lanczos'"):
        degrade(ok, "lanczos")
    with pytest.raises(TypeError, match="exactly one of sigma= or kernel=; got neither"):
        blur_down(ok, 2)
    with pytest.raises(ValueError, match="params were drawn for 16x16 frames; got frames of 8x8"):
        degrade(ok, "bsrgan", 2, params=bsrgan_params(2, height=16, width=16))
    with pytest.raises(ValueError, match="params are for kind 'blur' scale 2; expected kind 'bsrgan' scale 2"):
        degrade(ok, "bsrgan", 2, params={"kind": "blur", "scale": 2})


# ---------------------------------------------------------------------------------------- the CLI

def _folder(path, frames):
    path.mkdir()
    for i, f in enumerate(frames):
        write_png(path / f"frame_{i:04d}.png", f)
    return path


def test_cli_writes_frames_and_json(tmp_path, capsys):
    codes = (_smooth((5, 3, 24, 32), seed=9) * 255).round().to(torch.uint8)
    src = _folder(tmp_path / "src", [c.permute(1, 2, 0).numpy() for c in codes])
    dst = tmp_path / "out"
    assert main(["degrade", str(src), str(dst), "--kind", "bsrgan", "--scale", "2", "--seed", "3", "--chunk", "2"]) == 0
    names = sorted(p.name for p in dst.iterdir())
    assert names == ["degradation.json"] + [f"frame_{i:04d}.png" for i in range(5)]
    record = json.loads((dst / "degradation.json").read_text())
    assert record["seed"] == 3 and record["params"]["kind"] == "bsrgan" and record["params"]["scale"] == 2
    assert record["frames"] == 5 and record["source"] == str(src.resolve()) and "ai4m_kit_version" in record
    # chunked streaming = one call on the whole clip with the same seed
    want, params = degrade(codes.float() / 255, "bsrgan", 2, seed=3)
    assert params == record["params"]
    got = np.stack([read_png(dst / f"frame_{i:04d}.png") for i in range(5)])
    assert np.array_equal(got, (want * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    assert "5 frames 32x24 -> 16x12" in capsys.readouterr().out


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    src = _folder(tmp_path / "src", [np.full((8, 8, 3), 100, np.uint8)] * 2)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["degrade", str(src), str(busy), "--kind", "bicubic"]) == 2
    assert "folder is not empty" in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"] and (busy / "keep.txt").read_text() == "mine"
    before = sorted(p.name for p in src.iterdir())
    assert main(["degrade", str(src), str(src), "--kind", "bicubic"]) == 2
    assert "is the source" in capsys.readouterr().err
    assert main(["degrade", str(src), str(src / "lr"), "--kind", "bicubic"]) == 2
    assert "inside the source folder" in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == before
    assert main(["degrade", str(src), str(tmp_path / "x4"), "--kind", "bsrgan", "--scale", "3"]) == 1
    err = capsys.readouterr().err
    assert "scale must be one of (2, 4)" in err and str(src) in err and not (tmp_path / "x4").exists()


def test_bench_degrade_runs(capsys):
    assert main(["bench", "degrade", "--size", "64x36", "--repeats", "1", "--draws", "2"]) == 0
    out = capsys.readouterr().out
    assert "bicubic_down / Pillow time ratio = " in out and "bsrgan x2, 2 parameter draws" in out
