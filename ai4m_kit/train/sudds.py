"""Training the SUDDS detector (:mod:`ai4m_kit.models.sudds`) and its baselines on patch sets.

Two regimes:

- **end to end** (:func:`train_end_to_end`): backbone, optional staircase, DCT normalisation and MLP
  trained together on augmented patches (the CLI's ``ai4m sudds train``; the study's backbone);
- **frozen backbone** (:func:`train_head`): the backbone's block maps are computed once
  (:func:`block_maps`), then only the staircase and the MLP are trained on them; the study trains
  every ablation head this way on the backbone trained once per seed.

Augmentation follows the report: horizontal flip (p 0.35), brightness x U(0.8, 1.2) (p 0.5) and coarse
dropout (p 0.5, one to three holes of P/8 pixels). Every run is seeded, resumable and cached
(:func:`ai4m_kit.train.loop.fit`); the binary loss is class-weighted (one original per several
upscaled frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from ..models.resnet import ResNet18, load_resnet18
from ..models.sudds import SUDDS, SmallCNN
from ..profiles import pick, resolve_profile
from .export import load_marked, save_marked
from .loop import TrainResult, cache_key, fit

RECIPE_VERSION = 1


@dataclass(frozen=True)
class SUDDSConfig:
    """Sizes and schedules (see :func:`config_for`)."""

    width: int = 16  # backbone base width (64 = torchvision's ResNet-18)
    patch: int = 32  # tile side P
    k: int = 8  # patches kept per frame
    frames: int = 8  # frames per clip
    backbone_steps: int = 300
    head_steps: int = 150
    full_steps: int = 300  # the full models of Table 3, end to end
    cnn_steps: int = 300
    batch: int = 128
    lr: float = 2e-3
    head_lr: float = 2e-3
    dct_bands: int = 16


def config_for(profile: str | None = None, **overrides) -> SUDDSConfig:
    """The configuration of a profile: ``smoke`` (CI), ``demo`` (CPU minutes), ``paper`` (the
    report's 224-pixel patches, 96 per frame, full-width ResNet-18, for a GPU).

    Example:
        >>> config_for("smoke").width < config_for("paper").width == 64
        True
    """
    p = resolve_profile(profile)
    cfg = pick(p, smoke=SUDDSConfig(width=8, k=4, frames=2, backbone_steps=40, head_steps=30, full_steps=20,
                                 cnn_steps=30, batch=64),
               demo=SUDDSConfig(),
               paper=SUDDSConfig(width=64, patch=224, k=96, frames=48, backbone_steps=20_000, head_steps=3000, full_steps=20_000,
                                 cnn_steps=20_000, batch=64, lr=1e-4, head_lr=1e-3))
    return replace(cfg, **overrides)


def augment_patches(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The report's augmentation of float patches ``(B, 3, P, P)`` in [0, 1].

    Example:
        >>> augment_patches(torch.rand(4, 3, 16, 16), torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 16, 16])
    """
    b, _, p, _ = x.shape
    flip = torch.rand(b, generator=g) < 0.35
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    bright = torch.where(torch.rand(b, generator=g) < 0.5, 0.8 + 0.4 * torch.rand(b, generator=g), torch.ones(b))
    x = (x * bright[:, None, None, None]).clamp(0, 1)
    hole = max(1, p // 8)
    mask = torch.ones(b, 1, p, p)
    drop = torch.rand(b, generator=g) < 0.5
    n_holes = torch.randint(1, 4, (b,), generator=g)
    ys = torch.randint(0, p - hole + 1, (b, 3), generator=g)
    xs = torch.randint(0, p - hole + 1, (b, 3), generator=g)
    for i in torch.nonzero(drop).flatten().tolist():
        for j in range(int(n_holes[i])):
            mask[i, :, ys[i, j]:ys[i, j] + hole, xs[i, j]:xs[i, j] + hole] = 0
    return x * mask


def _weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=classes).float().clamp_min(1)
    return counts.sum() / (classes * counts)


def _loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    loss = nn.functional.cross_entropy(logits, y, weight=weight)
    return {"loss": loss, "acc": (logits.argmax(1) == y).float().mean()}


def targets(labels: torch.Tensor, binary: bool) -> tuple[torch.Tensor, int]:
    """Class targets from method indices (0 = original): binary (0/1) or the indices themselves."""
    if binary:
        return (labels > 0).long(), 2
    return labels.long(), int(labels.max()) + 1


def build_detector(cfg: SUDDSConfig, classes: int, *, staircase: bool = True, dct: bool = True, seed: int = 0,
                   checkpoint: str | None = None) -> SUDDS:
    """A SUDDS model, seeded; ``checkpoint``: a torchvision-layout ResNet-18 file to start the backbone from."""
    torch.manual_seed(seed)
    backbone = load_resnet18(checkpoint, cfg.width) if checkpoint else ResNet18(cfg.width)
    return SUDDS(classes=classes, staircase=staircase, dct=dct, dct_bands=cfg.dct_bands, backbone=backbone)


def train_end_to_end(model: nn.Module, patches: torch.Tensor, labels: torch.Tensor, dct: torch.Tensor | None,
                     *, steps: int, batch: int, lr: float, seed: int = 0, key_config: dict | None = None,
                     data_key: str = "", cache: bool = True, progress: bool = True, desc: str = "SUDDS") -> TrainResult:
    """Train ``model(patches, dct)`` on uint8 patches ``(N, 3, P, P)`` and class ``labels`` (N,) with
    augmentation; ``dct`` ``(N, bands)`` per-patch frame features or ``None``."""
    classes = int(getattr(model, "classes", int(labels.max()) + 1))
    weight = _weights(labels, classes)
    n = len(labels)
    if n == 0:
        raise ValueError("patches: empty training set")

    def step(net, g, i):
        idx = torch.randint(n, (min(batch, n),), generator=g)
        x = augment_patches(patches[idx].float() / 255, g)
        return _loss(net(x, None if dct is None else dct[idx]), labels[idx], weight)

    key = cache_key({"recipe": "sudds-e2e", "v": RECIPE_VERSION, "model": repr(model), "steps": steps, "batch": batch,
                     "lr": lr, "seed": seed, **(key_config or {})}, data_key)
    return fit(model, step, steps=steps, key=key, seed=seed, lr=lr, cache=cache, progress=progress, desc=desc)


@torch.no_grad()
def block_maps(model: SUDDS, patches: torch.Tensor, *, chunk: int = 512) -> list[torch.Tensor]:
    """The frozen backbone's block maps of uint8 patches, computed once (eval mode)."""
    model.eval()
    outs = [model.blocks(patches[s:s + chunk].float() / 255) for s in range(0, len(patches), chunk)]
    return [torch.cat([o[i] for o in outs]) for i in range(len(outs[0]))]


def train_head(backbone: ResNet18, blocks: list[torch.Tensor], labels: torch.Tensor, dct: torch.Tensor | None,
               cfg: SUDDSConfig, *, classes: int, staircase: bool, use_dct: bool, seed: int = 0, data_key: str = "",
               cache: bool = True, progress: bool = True, desc: str = "head") -> SUDDS:
    """Train the staircase and MLP of a SUDDS model on precomputed ``blocks`` of a frozen ``backbone``;
    returns the whole model (backbone included) in eval mode."""
    torch.manual_seed(seed + 101)
    model = SUDDS(classes=classes, staircase=staircase, dct=use_dct, dct_bands=cfg.dct_bands, backbone=backbone)
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    weight = _weights(labels, classes)
    n = len(labels)

    class Head(nn.Module):  # the trainable part, so that fit() checkpoints only it
        def __init__(self):
            super().__init__()
            self.staircase, self.dct_norm, self.head = model.staircase, model.dct_norm, model.head

    head = Head()

    def step(net, g, i):
        idx = torch.randint(n, (min(cfg.batch, n),), generator=g)
        feats = model.features_from_blocks([b[idx] for b in blocks], None if dct is None else dct[idx])
        return _loss(model.head(feats), labels[idx], weight)

    key = cache_key({"recipe": "sudds-head", "v": RECIPE_VERSION, "classes": classes, "staircase": staircase,
                     "dct": use_dct, "seed": seed, "steps": cfg.head_steps, "batch": cfg.batch, "lr": cfg.head_lr,
                     "width": cfg.width}, data_key)
    fit(head, step, steps=cfg.head_steps, key=key, seed=seed, lr=cfg.head_lr, cache=cache, progress=progress, desc=desc)
    return model.eval()


@torch.no_grad()
def predict_blocks(model: SUDDS, blocks: list[torch.Tensor], dct: torch.Tensor | None, *, chunk: int = 2048) -> torch.Tensor:
    """Class probabilities ``(N, classes)`` from precomputed block maps."""
    model.eval()
    out = []
    for s in range(0, len(blocks[0]), chunk):
        feats = model.features_from_blocks([b[s:s + chunk] for b in blocks], None if dct is None else dct[s:s + chunk])
        out.append(model.head(feats).softmax(1))
    return torch.cat(out)


@torch.no_grad()
def predict(model: nn.Module, patches: torch.Tensor, dct: torch.Tensor | None = None, *, chunk: int = 512) -> torch.Tensor:
    """Class probabilities ``(N, classes)`` of uint8 patches (any detector taking ``(patches, dct)``)."""
    model.eval()
    out = []
    for s in range(0, len(patches), chunk):
        d = None if dct is None or not getattr(model, "use_dct", False) else dct[s:s + chunk]
        out.append(model(patches[s:s + chunk].float() / 255, d).softmax(1))
    return torch.cat(out)


def train_small_cnn(patches: torch.Tensor, labels: torch.Tensor, cfg: SUDDSConfig, *, classes: int, seed: int = 0,
                    data_key: str = "", cache: bool = True, progress: bool = True) -> TrainResult:
    """The small-CNN baseline, trained from scratch end to end with the same augmentation."""
    torch.manual_seed(seed)
    net = SmallCNN(classes)
    return train_end_to_end(net, patches, labels, None, steps=cfg.cnn_steps, batch=cfg.batch, lr=cfg.lr, seed=seed,
                            key_config={"cnn": asdict(cfg)}, data_key=data_key, cache=cache, progress=progress,
                            desc="small CNN")


EXPORT_MARK = "ai4m-kit sudds detector"


def export_detector(model: SUDDS, cfg: SUDDSConfig, path, *, methods: list[str], binary: bool, **meta):
    """Write a trained detector with its configuration (atomically); a file there that this function
    did not write is never overwritten."""
    return save_marked(path, EXPORT_MARK, "ai4m sudds train", {
        "config": asdict(cfg), "methods": list(methods), "binary": binary, "classes": model.classes,
        "staircase": model.use_staircase, "dct": model.use_dct, "state_dict": model.state_dict(), **meta})


def load_detector(path, device="cpu") -> tuple[SUDDS, dict]:
    """A detector written by :func:`export_detector` (eval mode) and its metadata."""
    state = load_marked(path, EXPORT_MARK, "ai4m sudds train", device, what="detector file")
    cfg = SUDDSConfig(**state["config"])
    model = SUDDS(width=cfg.width, classes=state["classes"], staircase=state["staircase"], dct=state["dct"],
                  dct_bands=cfg.dct_bands).to(device)
    model.load_state_dict(state["state_dict"])
    return model.eval(), {k: v for k, v in state.items() if k != "state_dict"}
