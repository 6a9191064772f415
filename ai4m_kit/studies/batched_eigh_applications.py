"""Study 08, applications: decorrelated batch normalisation per eigensolver (``run_dbn``, Table 18
analogue) and whitening-and-colouring style transfer between two scikit-image photographs with
channel groups (``run_style_transfer``, Table 20 analogue). Re-exported by
:mod:`ai4m_kit.studies.batched_eigh`.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from ..profiles import pick, resolve_profile
from ..timing import interleaved_medians


DBN_CONFIGS = (("torch", "exact"), ("qr", "exact"), ("jacobi", "exact"), ("qr", "pade"), ("jacobi", "taylor"))


def _digits(seed: int = 0):
    from sklearn.datasets import load_digits

    data = load_digits()
    X = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    X, y = X[perm], y[perm]
    cut = int(0.8 * len(y))
    return X[:cut], y[:cut], X[cut:], y[cut:]


def _dbn_model(width: int, groups: int, method: str, grad_mode: str, seed: int) -> torch.nn.Module:
    from ..linalg.eigh_layers import DecorrelatedBatchNorm

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, width), DecorrelatedBatchNorm(width, groups=groups, method=method, grad_mode=grad_mode),
        torch.nn.ReLU(), torch.nn.Linear(width, 10),
    )


def run_dbn(profile: str = "demo", **overrides) -> xr.Dataset:
    """Decorrelated BN with groups on each eigensolver: a small classifier of scikit-learn's 8×8
    digits (1 797 images, 80/20 split) trained from the same initialisation and batch order.

    Overrides: ``epochs``, ``width`` (features whitened), ``groups``, ``batch``, ``configs``
    (``(method, grad_mode)`` pairs), ``seed``, ``repeats`` (timing rounds).

    Returns:
        Dataset over ``config`` with ``test_accuracy``, ``final_loss`` and ``step_time`` (median
        seconds of one forward + backward step, interleaved across configurations).

    Example:
        >>> ds = run_dbn("smoke", epochs=1, configs=(("torch", "exact"), ("qr", "exact")), repeats=1)
        >>> ds.config.values.tolist()
        ['torch/exact', 'qr/exact']
    """
    profile = resolve_profile(profile)
    o = dict(overrides)
    epochs = o.pop("epochs", pick(profile, smoke=2, demo=12, paper=40))
    width = o.pop("width", 64)
    groups = o.pop("groups", 8)
    batch = o.pop("batch", 128)
    configs = tuple(o.pop("configs", DBN_CONFIGS))
    seed = o.pop("seed", 0)
    repeats = o.pop("repeats", pick(profile, smoke=3, demo=7, paper=15))
    if o:
        raise TypeError(f"unknown overrides for batched_eigh.run_dbn: {sorted(o)}")
    Xtr, ytr, Xte, yte = _digits(seed)
    acc, loss_end, models = [], [], []
    for method, mode in configs:
        model = _dbn_model(width, groups, method, mode, seed)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(len(ytr), generator=gen)
            for i in range(0, len(ytr) - batch + 1, batch):
                idx = perm[i : i + batch]
                loss = torch.nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            acc.append(float((model(Xte).argmax(-1) == yte).float().mean()))
        model.train()
        loss_end.append(loss.item())
        models.append(model)
    xb, yb = Xtr[:batch], ytr[:batch]

    def step(model):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()

    times = interleaved_medians({str(i): (lambda m=m: step(m)) for i, m in enumerate(models)}, repeats=repeats)
    labels = [f"{m}/{g}" for m, g in configs]
    return xr.Dataset(
        {
            "test_accuracy": ("config", acc),
            "final_loss": ("config", loss_end),
            "step_time": ("config", [times[str(i)] for i in range(len(models))], {"units": "s"}),
        },
        coords={"config": labels},
        attrs={"epochs": epochs, "width": width, "groups": groups, "batch": batch, "profile": profile,
               "threads": torch.get_num_threads(), "data": "sklearn digits 8x8, 80/20 split"},
    )


def load_photos(size: int, content: str = "astronaut", style: str = "coffee") -> tuple[torch.Tensor, torch.Tensor]:
    """Two scikit-image photographs as ``(3, size, size)`` float tensors in [0, 1] (centre crop, area resize).

    Example:
        >>> c, s = load_photos(32)
        >>> c.shape, s.shape
        (torch.Size([3, 32, 32]), torch.Size([3, 32, 32]))
    """
    import skimage.data
    from skimage.transform import resize

    out = []
    for name in (content, style):
        img = getattr(skimage.data, name)()[..., :3]
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top : top + side, left : left + side].astype(np.float64) / 255.0
        img = resize(img, (size, size), anti_aliasing=True)
        out.append(torch.tensor(img, dtype=torch.float32).permute(2, 0, 1).contiguous())
    return out[0], out[1]


def run_style_transfer(profile: str = "demo", **overrides) -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """Whitening-and-colouring style transfer of 3×3 colour patches (27 features) between two
    scikit-image photographs, per eigensolver and number of channel groups.

    Overrides: ``size`` (pixels), ``groups`` (tuple), ``methods``, ``content``, ``style``
    (scikit-image names), ``repeats``.

    Returns:
        ``(ds, images)``: ``ds`` over ``(method, groups)`` with ``time`` (median seconds of one
        transfer), ``style_error`` (‖cov(out) − cov(style)‖_F / ‖cov(style)‖_F of the patch
        features) and ``content_ssim`` (SSIM of output and content, grey levels); ``images`` maps
        ``"content"``, ``"style"`` and ``"groups=G"`` (auto method) to ``(H, W, 3)`` arrays.

    Example:
        >>> ds, images = run_style_transfer("smoke", size=24, groups=(1, 3), methods=("torch",), repeats=1)
        >>> sorted(images)
        ['content', 'groups=1', 'groups=3', 'style']
    """
    import torch.nn.functional as F
    from skimage.metrics import structural_similarity

    from ..linalg.eigh_layers import patch_style_transfer

    profile = resolve_profile(profile)
    o = dict(overrides)
    size = o.pop("size", pick(profile, smoke=48, demo=160, paper=256))
    groups = tuple(o.pop("groups", (1, 3, 9)))
    methods = tuple(o.pop("methods", ("torch", "qr", "jacobi")))
    content_name, style_name = o.pop("content", "astronaut"), o.pop("style", "coffee")
    repeats = o.pop("repeats", pick(profile, smoke=2, demo=5, paper=9))
    if o:
        raise TypeError(f"unknown overrides for batched_eigh.run_style_transfer: {sorted(o)}")
    content, style = load_photos(size, content_name, style_name)
    fs = F.unfold(style.unsqueeze(0), 3)[0]
    cov_s = torch.cov(fs, correction=0)

    def grey(img):
        return (img * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).numpy()

    shape = (len(methods), len(groups))
    t, err, ssim = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    images = {"content": content.permute(1, 2, 0).numpy(), "style": style.permute(1, 2, 0).numpy()}
    calls = {}
    for i, m in enumerate(methods):
        for j, g in enumerate(groups):
            out = patch_style_transfer(content, style, patch=3, groups=g, method=m)
            fo = F.unfold(out.unsqueeze(0), 3)[0]
            err[i, j] = float((torch.cov(fo, correction=0) - cov_s).norm() / cov_s.norm())
            ssim[i, j] = structural_similarity(grey(out), grey(content), data_range=1.0)
            calls[f"{m}|{g}"] = lambda m=m, g=g: patch_style_transfer(content, style, patch=3, groups=g, method=m)
    med = interleaved_medians(calls, repeats=repeats)
    for i, m in enumerate(methods):
        for j, g in enumerate(groups):
            t[i, j] = med[f"{m}|{g}"]
    for g in groups:
        images[f"groups={g}"] = patch_style_transfer(content, style, patch=3, groups=g, method="auto").permute(1, 2, 0).numpy()
    ds = xr.Dataset(
        {
            "time": (("method", "groups"), t, {"units": "s"}),
            "style_error": (("method", "groups"), err),
            "content_ssim": (("method", "groups"), ssim),
        },
        coords={"method": list(methods), "groups": list(groups)},
        attrs={"size": size, "content": content_name, "style": style_name, "features": 27,
               "threads": torch.get_num_threads(), "profile": profile},
    )
    return ds, images


def plot_images(images: dict[str, np.ndarray]):
    """A HoloViews layout of the content, style and transferred images."""
    import holoviews as hv

    return hv.Layout([
        hv.RGB(np.clip(img, 0, 1), bounds=(0, 0, 1, 1)).opts(title=name, xaxis=None, yaxis=None, width=260, height=260)
        for name, img in images.items()
    ]).cols(3)
