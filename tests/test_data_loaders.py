"""Loaders: round trips for 8/16-bit PNG folders and video files, and every bad-input case."""

import shutil

import numpy as np
import pytest
import torch

from ai4m_kit.data import (ClipPair, DataError, FrameFolder, VideoFile, find_clips, open_clip, read_png,
                           rgb_to_luma, write_png, write_video)


def _folder(path, frames, names=None):
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        write_png(path / (names[i] if names else f"frame_{i:04d}.png"), f)
    return path


def _rgb(rng, n, h, w, dtype=np.uint8):
    hi = 256 if dtype == np.uint8 else 65536
    return [rng.integers(0, hi, size=(h, w, 3)).astype(dtype) for _ in range(n)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_folder_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(0)
    frames = _rgb(rng, 5, 12, 20, dtype)
    clip = FrameFolder(_folder(tmp_path / "c", frames))
    assert len(clip) == 5 and clip.size == (12, 20) and clip.bit_depth == (8 if dtype == np.uint8 else 16)
    chunks = list(clip.iter_chunks(chunk=2))
    assert [c.shape[0] for c in chunks] == [2, 2, 1]
    got = torch.cat(chunks)
    want = torch.from_numpy(np.stack(frames).transpose(0, 3, 1, 2).astype(np.int64))
    assert torch.equal(got.to(torch.int64), want)
    assert got.dtype == (torch.uint8 if dtype == np.uint8 else torch.int32)
    y = clip.read(3, mode="y")
    assert torch.allclose(y, rgb_to_luma(want[3]), atol=1e-3)


def test_grey_16_bit_png_is_replicated(tmp_path):
    g = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    write_png(tmp_path / "g.png", g)
    arr = read_png(tmp_path / "g.png")
    assert arr.dtype == np.uint16 and arr.shape == (30, 40, 3) and (arr[..., 1] == g).all()


def test_natural_frame_order(tmp_path):
    rng = np.random.default_rng(1)
    frames = _rgb(rng, 3, 4, 4)
    clip = FrameFolder(_folder(tmp_path / "c", frames, names=["f2.png", "f10.png", "f1.png"]))
    assert clip.frame_names == ["f1.png", "f2.png", "f10.png"]
    assert torch.equal(clip.read(0), torch.from_numpy(frames[2].transpose(2, 0, 1)))


@pytest.mark.parametrize("suffix,pix_fmt,bits", [(".y4m", "yuv420p", 8), (".y4m", "yuv420p10le", 10),
                                                 (".mkv", "yuv420p10le", 10), (".mov", "yuv422p10le", 10)])
def test_lossless_video_luma_round_trip(tmp_path, suffix, pix_fmt, bits):
    y = torch.randint(16, 2 ** bits - 16, (6, 32, 48))
    if suffix == ".mov":  # ProRes is visually lossless, not lossless: give it smooth content
        ramp = torch.linspace(64, 2 ** bits - 64, 48).round().to(torch.int64)
        y = ramp.expand(6, 32, 48) + torch.arange(6).view(6, 1, 1)
    path = write_video(tmp_path / f"v{suffix}", y, pix_fmt=pix_fmt)
    clip = open_clip(path)
    assert isinstance(clip, VideoFile) and len(clip) == 6 and clip.size == (32, 48)
    assert clip.bit_depth == bits and clip.color_range == "limited"
    got = torch.cat(list(clip.iter_chunks(chunk=4, mode="y")))
    if suffix == ".mov":  # ProRes is visually lossless, not lossless
        assert (got.to(torch.int64) - y).abs().float().mean() < 2 ** (bits - 8)
    else:
        assert torch.equal(got.to(torch.int64), y)
    rgb = clip.read(2)
    assert rgb.shape == (3, 32, 48) and int(rgb.max()) < 2 ** bits


def test_mp4_rgb_round_trip_is_close(tmp_path):
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, size=(1, 3, 16, 16)).astype(np.uint8)
    frames = np.repeat(np.repeat(np.repeat(base, 4, axis=2), 4, axis=3), 5, axis=0)  # smooth-ish blocks
    clip = open_clip(write_video(tmp_path / "v.mp4", frames, pix_fmt="yuv444p"))
    got = torch.cat(list(clip.iter_chunks(8)))
    assert got.shape == (5, 3, 64, 64) and got.dtype == torch.uint8
    assert (got.float() - torch.from_numpy(frames).float()).abs().mean() < 12


# ---------------------------------------------------------------- bad input

def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        FrameFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty folder"):
        FrameFolder(tmp_path / "empty")


def test_corrupt_frame_names_the_file(tmp_path):
    rng = np.random.default_rng(3)
    folder = _folder(tmp_path / "c", _rgb(rng, 3, 16, 16))
    bad = folder / "frame_0001.png"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # truncated
    clip = FrameFolder(folder)  # headers are intact
    clip.read(0)
    with pytest.raises(DataError, match="frame_0001.png.*corrupt"):
        clip.read(1)
    (folder / "frame_0002.png").write_bytes(b"not a png at all, just text....................")
    with pytest.raises(DataError, match="frame_0002.png: not a PNG"):
        FrameFolder(folder)


def test_missing_frame_file_is_reported(tmp_path):
    rng = np.random.default_rng(3)
    folder = _folder(tmp_path / "c", _rgb(rng, 2, 8, 8))
    clip = FrameFolder(folder)
    (folder / "frame_0001.png").unlink()
    with pytest.raises(DataError, match="frame_0001.png"):
        clip.read(1)


def test_mixed_sizes_and_bit_depths(tmp_path):
    rng = np.random.default_rng(4)
    folder = _folder(tmp_path / "c", _rgb(rng, 2, 8, 8))
    write_png(folder / "frame_0002.png", _rgb(rng, 1, 8, 10)[0])
    with pytest.raises(DataError, match="frame_0002.png: mixed sizes"):
        FrameFolder(folder)
    write_png(folder / "frame_0002.png", _rgb(rng, 1, 8, 8, np.uint16)[0])
    with pytest.raises(DataError, match="mixed bit depths"):
        FrameFolder(folder)


def test_unsupported_bit_depth(tmp_path):
    from PIL import Image

    folder = tmp_path / "c"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=bool)).save(folder / "frame_0000.png")  # 1-bit PNG
    with pytest.raises(DataError, match="unsupported bit depth 1"):
        FrameFolder(folder)


def test_unreadable_video(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 1000)
    with pytest.raises(DataError, match="broken.mp4: unreadable video"):
        open_clip(path)
    with pytest.raises(DataError, match="not a frame folder or a video"):
        (tmp_path / "x.txt").write_text("hi")
        open_clip(tmp_path / "x.txt")


def _pair(tmp_path, n_hr=3, n_lr=3, hr=(16, 16), lr=(8, 8), lr_names=None):
    rng = np.random.default_rng(5)
    root = tmp_path / "clip"
    _folder(root / "4k", _rgb(rng, n_hr, *hr))
    _folder(root / "1080p", _rgb(rng, n_lr, *lr), names=lr_names)
    return root


def test_pair_validation(tmp_path):
    assert len(ClipPair(_pair(tmp_path / "ok"))) == 3
    with pytest.raises(DataError, match="mismatched pair.*3 frames.*2"):
        ClipPair(_pair(tmp_path / "count", n_lr=2))
    with pytest.raises(DataError, match="expected exactly 2x"):
        ClipPair(_pair(tmp_path / "ratio", lr=(8, 7)))
    with pytest.raises(DataError, match="not aligned"):
        ClipPair(_pair(tmp_path / "names", lr_names=["a_0.png", "a_1.png", "a_2.png"]))
    with pytest.raises(DataError, match="no such frame folder"):
        shutil.rmtree(tmp_path / "ok" / "clip" / "1080p")
        ClipPair(tmp_path / "ok" / "clip")


def test_video_pair(tmp_path):
    hr = write_video(tmp_path / "hr.y4m", torch.randint(0, 255, (4, 32, 64)))
    lr = write_video(tmp_path / "lr.y4m", torch.randint(0, 255, (4, 16, 32)))
    assert len(ClipPair(hr, lr)) == 4
    lr3 = write_video(tmp_path / "lr3.y4m", torch.randint(0, 255, (3, 16, 32)))
    with pytest.raises(DataError, match="mismatched pair"):
        ClipPair(hr, lr3)


def test_find_clips(tmp_path):
    _pair(tmp_path / "corpus")
    _folder(tmp_path / "corpus" / "plain", _rgb(np.random.default_rng(6), 2, 8, 8))
    write_video(tmp_path / "corpus" / "movie.y4m", torch.randint(0, 255, (2, 16, 16)))
    found = find_clips(tmp_path / "corpus")
    assert [(n, label) for n, _, label in found] == [("clip", "4k"), ("clip", "1080p"), ("movie", "native"), ("plain", "native")]
    with pytest.raises(DataError, match="no such file"):
        find_clips(tmp_path / "missing")


def test_bad_arguments(tmp_path):
    clip = FrameFolder(_folder(tmp_path / "c", _rgb(np.random.default_rng(7), 2, 8, 8)))
    with pytest.raises(ValueError, match="mode must be one of"):
        clip.read(0, mode="yuv")
    with pytest.raises(IndexError):
        clip.read(5)
    with pytest.raises(ValueError, match="chunk"):
        next(clip.iter_chunks(0))
    with pytest.raises(ValueError, match="rgb must be"):
        rgb_to_luma(torch.zeros(2, 4, 4))
    with pytest.raises(TypeError, match="uint8 or uint16"):
        write_png(tmp_path / "f.png", np.zeros((4, 4, 3), dtype=np.float32))


def test_rgb_video_luma_is_bt709_of_its_rgb(tmp_path):
    rng = np.random.default_rng(8)
    frames = rng.integers(0, 256, size=(3, 3, 16, 24)).astype(np.uint8)
    clip = open_clip(write_video(tmp_path / "rgb.mov", frames, pix_fmt="rgb24", codec="png"))  # lossless RGB
    assert clip.color_range == "full"
    rgb = torch.cat(list(clip.iter_chunks(8)))
    assert torch.equal(rgb, torch.from_numpy(frames))
    y = torch.cat(list(clip.iter_chunks(8, mode="y")))
    assert y.dtype == torch.float32 and torch.allclose(y, rgb_to_luma(rgb))
