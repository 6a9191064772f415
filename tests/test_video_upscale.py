"""Upscalers: Pillow as the oracle for every classical method, chunking, dtypes, the plug-in
contract and registry, input errors, the ``ai4m upscale`` command and ``ai4m bench upscale``."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from ai4m_kit.cli import main
from ai4m_kit.data import read_png, write_png
from ai4m_kit.video.upscale import available_upscalers, output_size, register_upscaler, upscale

PILLOW = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
          "bicubic": Image.Resampling.BICUBIC, "lanczos3": Image.Resampling.LANCZOS}
PHOTOS = {
    "astronaut": data.astronaut()[60:181, 150:317],  # 121 x 167: odd sizes
    "camera": np.repeat(data.camera()[200:296, 180:308, None], 3, axis=-1),  # grey, 96 x 128
    "chelsea": data.chelsea()[40:153, 100:250],  # 113 x 150
}


def _pillow(rgb: np.ndarray, method: str, scale: float) -> np.ndarray:
    h, w = output_size(rgb.shape[:2], scale)
    return np.asarray(Image.fromarray(rgb).resize((w, h), PILLOW[method])).astype(np.int16)


def _ours(rgb: np.ndarray, method: str, scale: float, dtype=torch.float32) -> np.ndarray:
    x = torch.from_numpy(rgb).permute(2, 0, 1).to(dtype) / 255
    y = upscale(x, method, scale)
    assert y.dtype == dtype and float(y.min()) >= 0 and float(y.max()) <= 1
    return (y * 255).round().to(torch.int16).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("method", list(PILLOW))
@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_matches_pillow_within_one_code_value(photo, scale, method):
    rgb = PHOTOS[photo]
    err = np.abs(_ours(rgb, method, scale) - _pillow(rgb, method, scale)).max()
    assert err <= (0 if method == "nearest" else 1), f"{method} x{scale} on {photo}: max error {err}/255"


@pytest.mark.parametrize("method", list(PILLOW))
@pytest.mark.parametrize("scale", [1.5, 2.37])
def test_non_integer_scales_match_pillow(method, scale):
    rgb = PHOTOS["chelsea"][:37, :53]
    err = np.abs(_ours(rgb, method, scale, torch.float64) - _pillow(rgb, method, scale)).max()
    assert err <= (0 if method == "nearest" else 1)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 4)])
def test_tiny_frames_match_pillow(size):
    rgb = PHOTOS["astronaut"][: size[0], : size[1]]
    for method in PILLOW:
        assert np.abs(_ours(rgb, method, 3) - _pillow(rgb, method, 3)).max() <= 1


def test_float64_and_float32_agree_and_keep_their_dtype():
    x = torch.from_numpy(PHOTOS["chelsea"]).permute(2, 0, 1).double() / 255
    y64 = upscale(x, "lanczos3", 2)
    y32 = upscale(x.float(), "lanczos3", 2)
    assert y64.dtype == torch.float64 and y32.dtype == torch.float32
    assert (y64 - y32.double()).abs().max() < 1e-5


def test_chunked_video_equals_frame_by_frame():
    rng = torch.Generator().manual_seed(0)
    video = torch.rand(5, 3, 17, 23, generator=rng)
    for method in ("nearest", "bicubic", "lanczos3"):
        whole = upscale(video, method, 2, chunk=2)
        assert whole.shape == (5, 3, 34, 46)
        for t in range(5):
            assert torch.equal(whole[t], upscale(video[t], method, 2))
    batch = video.reshape(1, 5, 3, 17, 23)
    assert torch.equal(upscale(batch, "bilinear", 3, chunk=1)[0], upscale(video, "bilinear", 3, chunk=3))


def test_edges_renormalise_and_constants_stay_constant():
    x = torch.full((3, 9, 11), 0.25, dtype=torch.float64)
    for method in PILLOW:
        assert torch.allclose(upscale(x, method, 2), torch.full((3, 18, 22), 0.25, dtype=torch.float64), atol=1e-12)


def test_cuda_matches_cpu(device):
    if device.type != "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    x = torch.from_numpy(PHOTOS["astronaut"]).permute(2, 0, 1).float() / 255
    for method in PILLOW:
        on_gpu = upscale(x.cuda(), method, 2)
        assert on_gpu.device.type == "cuda"
        assert (on_gpu.cpu() - upscale(x, method, 2)).abs().max() < 1e-5
    assert upscale(x, "lanczos3", 2, device="cuda").device.type == "cpu"


class _NearestThenConv(torch.nn.Module):
    """Pixel replication followed by an identity 3x3 convolution."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            for c in range(3):
                self.conv.weight[c, c, 1, 1] = 1

    def forward(self, x):
        return self.conv(x.repeat_interleave(self.scale, -1).repeat_interleave(self.scale, -2))


class _WrongShape(torch.nn.Module):
    def forward(self, x):
        return x


class _Temporal(torch.nn.Module):
    temporal = True

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def test_module_plug_in_and_shape_check():
    video = torch.rand(5, 3, 6, 7)
    got = upscale(video, _NearestThenConv(), 2, chunk=2)
    assert torch.allclose(got, upscale(video, "nearest", 2), atol=1e-6)
    with pytest.raises(ValueError, match=r"upscaler _WrongShape returned shape \(2, 3, 6, 7\).*expected \(2, 3, 12, 14\)"):
        upscale(video, _WrongShape(), 2, chunk=2)
    with pytest.raises(ValueError, match=r"upscaler <lambda> returned list"):
        upscale(video, lambda x: [x], 2)
    with pytest.raises(ValueError, match="fractional size"):
        upscale(video, _NearestThenConv(), 1.5)


def test_temporal_module_sees_sequences():
    model = _Temporal()
    video = torch.rand(5, 3, 4, 4)
    out = upscale(video, model, 2, chunk=3)
    assert model.calls == [(1, 3, 3, 4, 4), (1, 2, 3, 4, 4)]
    assert torch.equal(out, upscale(video, "nearest", 2))


def test_registry_lookup_and_unknown_names():
    built = []

    def factory(scale):
        built.append(scale)
        return _NearestThenConv(int(scale))

    register_upscaler("test-nearest-conv", factory, replace=True)
    assert "test-nearest-conv" in available_upscalers()
    assert available_upscalers()[:4] == ("nearest", "bilinear", "bicubic", "lanczos3")
    x = torch.rand(2, 3, 5, 5)
    assert torch.allclose(upscale(x, "test-nearest-conv", 2), upscale(x, "nearest", 2), atol=1e-6)
    upscale(x, "test-nearest-conv", 2)
    assert built == [2.0]  # the model is built once per scale
    with pytest.raises(ValueError, match=r"method must be one of nearest, bilinear, bicubic, lanczos3.*test-nearest-conv.*got 'nope'"):
        upscale(x, "nope", 2)
    with pytest.raises(ValueError, match="already registered"):
        register_upscaler("test-nearest-conv", factory)
    with pytest.raises(ValueError, match="built-in"):
        register_upscaler("bicubic", factory)


@pytest.mark.parametrize("frames,kwargs,error,match", [
    (torch.rand(4, 4), {}, ValueError, r"frames must be \(C, H, W\).*got shape \(4, 4\)"),
    (torch.zeros(3, 4, 4, dtype=torch.uint8), {}, TypeError, "frames must be a float tensor.*got dtype torch.uint8"),
    (torch.full((3, 4, 4), 1.01), {}, ValueError, r"values in \[0, 1\]; got min 1.01, max 1.01"),
    (torch.full((3, 4, 4), -0.5), {}, ValueError, r"values in \[0, 1\]; got min -0.5"),
    (torch.full((3, 4, 4), float("nan")), {}, ValueError, r"values in \[0, 1\]; got min nan"),
    (torch.zeros(0, 3, 4, 4), {}, ValueError, r"must not be empty; got shape \(0, 3, 4, 4\)"),
    (torch.zeros(3, 0, 4), {}, ValueError, "must not be empty"),
    (torch.rand(3, 4, 4), {"scale": 1}, ValueError, "scale must be a number > 1; got 1"),
    (torch.rand(3, 4, 4), {"scale": 0.5}, ValueError, "scale must be a number > 1; got 0.5"),
    (torch.rand(3, 4, 4), {"scale": "2"}, TypeError, "scale must be a number > 1; got str '2'"),
    (torch.rand(3, 4, 4), {"method": "lanczos"}, ValueError, "method must be one of .*got 'lanczos'"),
    (torch.rand(3, 4, 4), {"method": 3}, TypeError, "method must be a name .* got int"),
    (torch.rand(2, 3, 4, 4), {"chunk": 0}, ValueError, "chunk must be an integer >= 1; got 0"),
    (np.zeros((3, 4, 4)), {}, TypeError, "frames must be a torch.Tensor"),
])
def test_bad_input_errors(frames, kwargs, error, match):
    args = {"method": "bicubic", "scale": 2, **kwargs}
    with pytest.raises(error, match=match):
        upscale(frames, args.pop("method"), args.pop("scale"), **args)


def test_tolerance_accepts_tiny_rounding_outside():
    x = torch.full((3, 4, 4), 1 + 5e-7)
    assert float(upscale(x, "bilinear", 2).max()) == 1.0


def _clip(path, n=3, h=10, w=14, dtype=np.uint8):
    rng = np.random.default_rng(3)
    hi = 256 if dtype == np.uint8 else 65536
    path.mkdir()
    frames = [rng.integers(0, hi, size=(h, w, 3)).astype(dtype) for _ in range(n)]
    for i, f in enumerate(frames):
        write_png(path / f"f{i}.png", f)
    return frames


def test_cli_writes_frames_and_json(tmp_path, capsys):
    frames = _clip(tmp_path / "src")
    assert main(["upscale", str(tmp_path / "src"), str(tmp_path / "out"), "--method", "lanczos3", "--chunk", "2"]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["frame_0000.png", "frame_0001.png", "frame_0002.png", "upscale.json"]
    meta = json.loads((tmp_path / "out" / "upscale.json").read_text())
    assert meta["method"] == "lanczos3" and meta["scale"] == 2 and meta["frames"] == 3
    assert meta["source"] == str((tmp_path / "src").resolve()) and "ai4m_kit_version" in meta
    got = read_png(tmp_path / "out" / "frame_0001.png").astype(np.int16)
    assert got.shape == (20, 28, 3) and np.abs(got - _pillow(frames[1], "lanczos3", 2)).max() <= 1
    assert "3 frames 14x10 -> 28x20" in capsys.readouterr().out


def test_cli_16_bit_source_gives_16_bit_frames(tmp_path):
    frames = _clip(tmp_path / "src", n=1, dtype=np.uint16)
    assert main(["upscale", str(tmp_path / "src"), str(tmp_path / "out"), "--method", "nearest", "--scale", "2"]) == 0
    got = read_png(tmp_path / "out" / "frame_0000.png")
    assert got.dtype == np.uint16 and np.array_equal(got[::2, ::2], frames[0])


def test_cli_refuses_to_overwrite(tmp_path, capsys):
    _clip(tmp_path / "src", n=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    assert main(["upscale", str(tmp_path / "src"), str(busy)]) == 2
    assert "folder is not empty" in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"] and (busy / "keep.txt").read_text() == "mine"
    for dst in (tmp_path / "src", tmp_path / "src" / "inner"):
        assert main(["upscale", str(tmp_path / "src"), str(dst)]) == 2
        assert "(SRC or inside it)" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["f0.png"]
    assert main(["upscale", str(tmp_path / "src"), str(tmp_path / "o"), "--method", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ai4m upscale: error: --method 'nope': unknown; available: nearest") and "\n" not in err
    assert main(["upscale", str(tmp_path / "missing"), str(tmp_path / "o2")]) == 1
    assert "missing: no such frame folder or video file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_bench_upscale_prints_ratio_line(capsys):
    assert main(["bench", "upscale", "--size", "64x36", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "64x36 RGB -> 128x72" in out
    assert "ratio ours/Pillow for lanczos3 x2 at 64x36, 1 thread(s):" in out and "-> target" in out
    for method in PILLOW:
        assert f"\n{method}" in out
