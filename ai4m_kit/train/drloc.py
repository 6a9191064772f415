"""Supervised training of a :class:`~ai4m_kit.models.transformers.GridModel` with or without DRLoc.

A :class:`DRLocNet` holds the backbone and, when DRLoc is on, the localisation head. Each step
draws a batch and its random crops as a pure function of ``(seed, step)``, then the DRLoc pairs
(last, so that the backbone sees the same batches with and without DRLoc); the loss is
``CE + λ(t)·DRLoc`` with λ ramped up over the first ``warmup`` fraction of training and decayed
linearly after (:func:`ai4m_kit.ssl.drloc.lambda_at`). The backbone is built before the head from
one seed, so a run with ``lam=0`` and the baseline (``lam=None``, no head) train the backbone
bit for bit alike. Runs go through :func:`ai4m_kit.train.fit` (resumable, cached by
configuration, data and library version). Optimiser: AdamW with a linear warm-up and a cosine decay
of the learning rate, as DeiT-style recipes for small transformers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.transformers import MODELS, GridModel, build_model
from ..profiles import pick, resolve_profile
from ..ssl.drloc import REDUCTIONS, TARGETS, DRLocHead, drloc_loss, lambda_at, pair_targets
from .loop import TrainResult, cache_key, fit

RECIPE_VERSION = 1  # part of the cache key: bumped when the recipe's behaviour or logged values change
# λ per backbone: the report's 0.5 for Swin and 0.1 for CvT and T2T; ViT and ResNet take 0.1 (not given).
DEFAULT_LAMBDA = {"swin": 0.5, "cvt": 0.1, "t2t": 0.1, "vit": 0.1, "resnet": 0.1}


@dataclass(frozen=True)
class DRLocConfig:
    model: str = "swin"
    size: str = "demo"  # model size: a key of ai4m_kit.models.transformers.SIZES
    image_size: int = 28
    lam: float | None = None  # None: no DRLoc (the baseline); 0: the head is trained with weight 0
    pairs: int = 64
    target: str = "abs"
    reduction: str = "l1"
    head_hidden: int = 512
    warmup: float = 0.2  # fraction of training over which λ ramps up
    batch: int = 32
    steps: int = 160
    lr: float = 3e-3
    weight_decay: float = 0.0
    lr_warmup: int = 15
    crop_scale: tuple[float, float] | None = None  # random resized crops of this area fraction; None: no augmentation

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {self.model!r}")
        if self.lam is not None and self.lam < 0:
            raise ValueError(f"lam (lambda) must be >= 0 or None; got {self.lam}")
        if not isinstance(self.pairs, int) or self.pairs < 1:
            raise ValueError(f"pairs (m) must be an int >= 1; got {self.pairs!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}; got {self.target!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}; got {self.reduction!r}")


def config_for(profile: str | None = None, **overrides) -> DRLocConfig:
    """``smoke`` (seconds), ``demo`` (a few seconds per training on 2 CPU cores: 28 px, tiny models,
    head width 128, 160 steps of 32 images, no augmentation: about 1.3 epochs of MNIST-5k, where crops
    and weight decay cost accuracy) or ``paper`` (224 px, the report's models, head width 512, batch
    128, random resized crops, weight decay 0.05; λ ramping over the first 20 % of training).

    Example:
        >>> config_for("smoke").steps < config_for("demo").steps
        True
    """
    p = resolve_profile(profile)
    cfg = pick(p, smoke=DRLocConfig(size="smoke", head_hidden=32, batch=16, steps=8, lr_warmup=2),
               demo=DRLocConfig(size="demo", head_hidden=128),
               paper=DRLocConfig(size="paper", image_size=224, head_hidden=512, batch=128, steps=100_000,
                                 lr=5e-4, weight_decay=0.05, lr_warmup=5_000, crop_scale=(0.08, 1.0)))
    return replace(cfg, **overrides)


class DRLocNet(nn.Module):
    """A backbone and, when DRLoc is on, its localisation head."""

    def __init__(self, backbone: GridModel, head: DRLocHead | None) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)


def build_net(cfg: DRLocConfig, in_channels: int, num_classes: int, seed: int = 0) -> DRLocNet:
    """The seeded backbone (and head when ``cfg.lam`` is not None), built in that order."""
    torch.manual_seed(seed)
    backbone = build_model(cfg.model, num_classes=num_classes, in_channels=in_channels, image_size=cfg.image_size,
                           size=cfg.size)
    head = DRLocHead(backbone.grid_channels, cfg.head_hidden) if cfg.lam is not None else None
    return DRLocNet(backbone, head)


def prepare(images: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] images → float, centred to [-1, 1]."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return x * 2.0 - 1.0


def _check_data(images: torch.Tensor, labels: torch.Tensor, cfg: DRLocConfig) -> None:
    if images.ndim != 4 or tuple(images.shape[-2:]) != (cfg.image_size, cfg.image_size):
        raise ValueError(f"images must be (N, C, {cfg.image_size}, {cfg.image_size}); got {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be ({images.shape[0]},); got {tuple(labels.shape)}")


def train_drloc(images: torch.Tensor, labels: torch.Tensor, num_classes: int, cfg: DRLocConfig, *, seed: int = 0,
                data_key: str = "", pretrained: DRLocNet | None = None, pretrained_key: str = "",
                device: str | torch.device = "cpu", progress: bool = True, cache: bool = True) -> TrainResult:
    """Train ``cfg.model`` on ``images`` ``(N, C, S, S)`` (S = ``cfg.image_size``) and ``labels``.

    Args:
        pretrained: start from this net's weights (every tensor whose name and shape match, except
            the backbone's classifier): fine-tuning. ``pretrained_key`` (its cache key) enters the key.

    History per step: ``loss``, ``ce``, ``batch_accuracy`` and, with DRLoc, ``loc`` (the DRLoc loss)
    and ``lam`` (its weight at that step).
    """
    from ..data.augment import random_resized_crop

    _check_data(images, labels, cfg)
    n = images.shape[0]
    device = torch.device(device)
    net = build_net(cfg, images.shape[1], num_classes, seed).to(device)
    if pretrained is not None:
        own = net.state_dict()
        for name, value in pretrained.state_dict().items():
            classifier = name.startswith(("backbone.head.", "backbone.net.head."))
            if name in own and own[name].shape == value.shape and not classifier:
                own[name] = value.detach().clone()
        net.load_state_dict(own)
    key = cache_key({"recipe": "drloc", "recipe_version": RECIPE_VERSION, "seed": seed, "classes": num_classes,
                     "pretrained": pretrained_key, **asdict(cfg)}, data_key)
    labels = labels.to(device)

    def step(model, g, i):
        idx = torch.randint(n, (cfg.batch,), generator=g)
        x = prepare(images[idx])
        if cfg.crop_scale is not None:
            x = random_resized_crop(x, g, scale=cfg.crop_scale, interpolation="bilinear")
        logits, grid = model.backbone.forward_with_grid(x.to(device))
        y = labels[idx.to(device)]
        ce = F.cross_entropy(logits, y)
        out = {"ce": ce, "batch_accuracy": (logits.argmax(1) == y).float().mean()}
        loss = ce
        if model.head is not None:  # the pairs are drawn last: the batches do not depend on DRLoc
            lam = lambda_at(i / max(1, cfg.steps), cfg.lam, warmup=cfg.warmup)
            loc = drloc_loss(grid, model.head, cfg.pairs, target=cfg.target, reduction=cfg.reduction, generator=g)
            loss = ce + lam * loc
            out.update(loc=loc, lam=lam)
        out["loss"] = loss
        return out

    def schedule(i):
        if i < cfg.lr_warmup:
            return (i + 1) / cfg.lr_warmup
        t = (i - cfg.lr_warmup) / max(1, cfg.steps - cfg.lr_warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

    def adamw(params):
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    label = f"{cfg.model} " + ("baseline" if cfg.lam is None else f"DRLoc λ={cfg.lam} m={cfg.pairs}")
    return fit(net, step, steps=cfg.steps, key=key, seed=seed, optimizer=adamw, schedule=schedule, cache=cache,
               progress=progress, desc=label)


@torch.no_grad()
def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch: int = 500) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on ``images`` (no augmentation)."""
    net.eval()
    dev = next(net.parameters()).device
    right = 0
    for s in range(0, images.shape[0], batch):
        logits = net(prepare(images[s:s + batch]).to(dev))
        right += int((logits.argmax(1).cpu() == labels[s:s + batch]).sum())
    return right / max(1, images.shape[0])


@torch.no_grad()
def localisation_map(net: DRLocNet, image: torch.Tensor, ref: tuple[int, int] | None = None,
                     target: str = "abs") -> dict[str, np.ndarray]:
    """What the head predicts for one image: the offset from cell ``ref`` (default: the centre) to
    every cell of the grid, predicted and true, each ``(2, k, k)`` (row axis, column axis).

    Example:
        >>> cfg = config_for("smoke", model="vit", lam=0.5)
        >>> out = localisation_map(build_net(cfg, 1, 10), torch.zeros(1, 28, 28, dtype=torch.uint8))
        >>> out["predicted"].shape, out["true"][:, 3, 3].tolist()
        ((2, 7, 7), [0.0, 0.0])
    """
    if net.head is None:
        raise ValueError("net has no DRLoc head (trained with lam=None)")
    net.eval()
    dev = next(net.parameters()).device
    grid = net.backbone.grid(prepare(image[None]).to(dev))
    k = grid.shape[-1]
    r, c = ref if ref is not None else (k // 2, k // 2)
    cells = torch.stack(torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij"), -1).reshape(1, -1, 2)
    first = torch.tensor([[r, c]]).expand_as(cells)[None].reshape(1, -1, 2)
    flat = grid.flatten(2).transpose(1, 2)[0]
    pairs = torch.cat([flat[first[0, :, 0] * k + first[0, :, 1]], flat[cells[0, :, 0] * k + cells[0, :, 1]]], -1)
    pred = net.head(pairs).reshape(k, k, 2).permute(2, 0, 1).cpu().numpy()
    true = pair_targets(first, cells.to(first.device), k, target)[0].reshape(k, k, 2).permute(2, 0, 1).numpy()
    return {"predicted": pred, "true": true, "ref": np.array([r, c])}
