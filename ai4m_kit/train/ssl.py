"""Self-supervised training recipes (W-MSE, SimCLR, BYOL and controls) and their evaluation.

A model is an encoder (the small CIFAR-style ResNet of :mod:`ai4m_kit.models.resnet_small`
without its classifier) and a projector ``F → hidden → BN → ReLU → emb`` as W-MSE's; BYOL adds a
predictor and an EMA target network. Each step draws a batch of images and ``d`` augmented views
as a pure function of ``(seed, step)`` (:func:`ai4m_kit.train.step_generator`), so training
resumes exactly after a kill and is cached by configuration, data and library version.

Methods: ``wmse2`` / ``wmse4`` (W-MSE with 2 or 4 positives), ``simclr`` (NT-Xent, τ 0.5),
``byol``, ``nowhite`` (W-MSE's loss without whitening: the collapsing control),
``contrastive-white-l2`` / ``contrastive-white`` (NT-Xent on whitened features with and without
L2 normalisation: the report's Table 10), and ``random`` (the untrained encoder).

Under ``torchrun`` each process takes its slice of the global batch; embeddings are gathered
(:func:`ai4m_kit.ssl.gather`) so that every loss sees the global batch, and DDP averages the
gradients: the same loss and the same update as one process on the same global batch (with a
BatchNorm-free encoder; BatchNorm statistics are per process, as in the official code).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from ..models.resnet_small import ResNetSmall
from ..profiles import pick, resolve_profile
from .ddp import local_slice, rank_and_world
from .loop import TrainResult, cache_key, fit

RECIPE_VERSION = 2  # part of the cache key: bumped when a recipe's behaviour or logged values change
METHODS = ("wmse2", "wmse4", "simclr", "byol", "nowhite", "contrastive-white-l2", "contrastive-white", "random")
VIEWS = {"wmse4": 4}


@dataclass(frozen=True)
class SSLConfig:
    width: int = 16  # first ResNet stage; features 4·width
    blocks: int = 1
    hidden: int = 256
    emb: int = 32
    batch: int = 128
    w_size: int = 64
    steps: int = 200
    lr: float = 3e-3
    weight_decay: float = 1e-6
    warmup: int = 30
    tau: float = 0.5
    byol_base: float = 0.99


def config_for(profile: str | None = None, **overrides) -> SSLConfig:
    """``smoke`` (CI), ``demo`` (minutes on 2 CPU cores), ``paper`` (the report's CIFAR-10 setting
    for a GPU: ResNet width 64 (ResNet-18 scale), head 1024→64, batch 256, w_size 128).

    Example:
        >>> config_for("smoke").steps < config_for("demo").steps
        True
    """
    p = resolve_profile(profile)
    cfg = pick(p, smoke=SSLConfig(width=8, hidden=64, emb=16, batch=64, w_size=32, steps=20, warmup=5),
               demo=SSLConfig(),
               paper=SSLConfig(width=64, blocks=2, hidden=1024, emb=64, batch=256, w_size=128, steps=200_000,
                               warmup=500))
    return replace(cfg, **overrides)


class SSLModel(nn.Module):
    """Encoder + projector (+ predictor and EMA target for BYOL)."""

    def __init__(self, cfg: SSLConfig, in_channels: int, byol: bool = False) -> None:
        super().__init__()
        net = ResNetSmall(num_classes=1, in_channels=in_channels, width=cfg.width, blocks_per_stage=cfg.blocks)
        net.head = nn.Identity()
        self.encoder = net
        feat = 4 * cfg.width
        self.projector = nn.Sequential(nn.Linear(feat, cfg.hidden), nn.BatchNorm1d(cfg.hidden), nn.ReLU(inplace=True),
                                       nn.Linear(cfg.hidden, cfg.emb))
        self.predictor = (nn.Sequential(nn.Linear(cfg.emb, cfg.hidden), nn.BatchNorm1d(cfg.hidden),
                                        nn.ReLU(inplace=True), nn.Linear(cfg.hidden, cfg.emb)) if byol else None)
        self.target = None
        if byol:  # the EMA copy: not trained by the optimiser
            self.target = nn.ModuleDict({"encoder": copy.deepcopy(self.encoder),
                                         "projector": copy.deepcopy(self.projector)})
            for p in self.target.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def _prepare(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def ssl_loss(method: str, model: SSLModel, views: torch.Tensor, cfg: SSLConfig, g: torch.Generator) -> torch.Tensor:
    """The loss of ``method`` on ``views`` ``(d, B, C, H, W)`` (embeddings gathered across processes)."""
    from ..ssl import byol_loss, contrastive_on_whitened, gather, nt_xent_views, wmse_loss

    d, b = views.shape[:2]
    flat = views.reshape(d * b, *views.shape[2:])
    if method == "byol":
        p = model.predictor(model(flat)).reshape(d, b, -1)
        with torch.no_grad():
            t = model.target["projector"](model.target["encoder"](flat)).reshape(d, b, -1)
        return sum(byol_loss(gather(p[i]), gather(t[j])) for i in range(d) for j in range(d) if i != j) / (d * (d - 1))
    z = model(flat).reshape(d, b, -1)
    z = torch.stack([gather(z[i]) for i in range(d)])
    if method in ("wmse2", "wmse4"):
        return wmse_loss(z, w_size=cfg.w_size, generator=g)
    if method == "nowhite":
        return wmse_loss(z, whitening="none")
    if method == "simclr":
        return nt_xent_views(list(z), temperature=cfg.tau)
    if method in ("contrastive-white-l2", "contrastive-white"):
        return contrastive_on_whitened(z, cfg.w_size, l2=method.endswith("l2"), temperature=cfg.tau, generator=g)
    raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def train_ssl(method: str, images: torch.Tensor, cfg: SSLConfig, *, seed: int = 0, data_key: str = "",
              device: str | torch.device = "cpu", progress: bool = True, cache: bool = True,
              diagnose_every: int = 10) -> TrainResult:
    """Train ``method`` on ``images`` ``(N, C, H, W)`` (uint8 or float in [0, 1]).

    History: ``loss`` per step and, every ``diagnose_every`` steps, the collapse diagnostics of the
    batch's embeddings (projector outputs: ``effective_rank``, ``mean_std``).
    """
    from ..data.augment import multi_view
    from ..ssl import collapse_diagnostics, ema_momentum, ema_update

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n, c = images.shape[0], images.shape[1]
    if n < cfg.batch:
        raise ValueError(f"images: {n} images, fewer than one batch of {cfg.batch}")
    device = torch.device(device)
    torch.manual_seed(seed)
    model = SSLModel(cfg, c, byol=method == "byol").to(device)
    if method == "random":
        model.eval()
        return TrainResult(model, [], cached=False)
    d = VIEWS.get(method, 2)
    rank, world = rank_and_world()
    if cfg.batch % world:
        raise ValueError(f"batch {cfg.batch} must be divisible by the {world} processes")
    if world > 1:
        cache = False  # every process must train: a cache hit on one rank would leave the others waiting
    key = cache_key({"recipe": "ssl", "recipe_version": RECIPE_VERSION, "method": method, "seed": seed,
                     **asdict(cfg)}, data_key)
    trained = model
    if world > 1:
        trained = nn.parallel.DistributedDataParallel(model)

    def step(net, g, i):
        # the global batch and its augmentations are drawn alike on every process, then sliced:
        # the same views, permutations and losses as one process on the global batch
        views = multi_view(_prepare(images[torch.randint(n, (cfg.batch,), generator=g)]), d, g)
        views = local_slice(views.transpose(0, 1)).transpose(0, 1).to(device)
        loss = ssl_loss(method, model if world == 1 else net.module, views, cfg, g)
        out = {"loss": loss}
        if diagnose_every and i % diagnose_every == 0:
            with torch.no_grad():  # on the embeddings the loss sees (projector outputs)
                diag = collapse_diagnostics(model(views[0]).float())
            out.update(effective_rank=diag["effective_rank"], mean_std=diag["mean_std"])
        return out

    def after(net, i):
        if method == "byol":
            m = ema_momentum(i, cfg.steps, cfg.byol_base)
            ema_update(model.target["encoder"], model.encoder, m)
            ema_update(model.target["projector"], model.projector, m)

    def schedule(i):
        return min(1.0, (i + 1) / max(1, cfg.warmup))

    def adam(params):
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    res = fit(trained, step, steps=cfg.steps, key=key, seed=seed, optimizer=adam, schedule=schedule,
              after_step=after, cache=cache, progress=progress and rank == 0, desc=f"SSL {method}",
              allow_nonfinite=method.startswith("contrastive-white"))
    res.model = model.eval()
    return res


def features(model: SSLModel, images: torch.Tensor, *, batch: int = 512) -> torch.Tensor:
    """Frozen encoder features ``(N, F)`` of ``images`` (no augmentation)."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for s in range(0, images.shape[0], batch):
            out.append(model.encoder(_prepare(images[s:s + batch]).to(dev)).float().cpu())
    return torch.cat(out)


def embeddings(model: SSLModel, images: torch.Tensor, *, batch: int = 512) -> torch.Tensor:
    """Projector outputs ``(N, emb)`` of ``images``: what the SSL loss sees, where collapse shows."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for s in range(0, images.shape[0], batch):
            out.append(model(_prepare(images[s:s + batch]).to(dev)).float().cpu())
    return torch.cat(out)


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    """Top-1 accuracy of a multinomial logistic regression on standardised frozen features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(clf.fit(train_x, train_y).score(test_x, test_y))


def knn_top1(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5) -> float:
    """Top-1 accuracy of k-NN (Euclidean distance, majority vote) as the report's 5-NN."""
    from sklearn.neighbors import KNeighborsClassifier

    return float(KNeighborsClassifier(n_neighbors=k).fit(train_x, train_y).score(test_x, test_y))


def evaluate(model: SSLModel, train_images, train_labels, test_images, test_labels) -> dict[str, float]:
    """Linear-probe and 5-NN top-1 accuracy of the frozen encoder."""
    a, b = features(model, train_images).numpy(), features(model, test_images).numpy()
    ya, yb = np.asarray(train_labels), np.asarray(test_labels)
    return {"linear": linear_probe(a, ya, b, yb), "knn": knn_top1(a, ya, b, yb)}
