"""``ai4m bench drloc``: DRLoc's overhead per training step, against the backbone's own step.

Each backbone is timed for one full training step (forward, cross-entropy, backward, AdamW update)
on a fixed batch, without and with DRLoc (``m`` pairs per image, the localisation MLP, its loss and
gradients), interleaved round by round; the ratio of the medians minus one is DRLoc's overhead. The
report's target: at most 5 % at m = 64. The head's cost does not depend on the backbone (``B·m``
pairs through ``2C → hidden → hidden → 2``), so the overhead shrinks as the backbone grows: the
``demo`` models are tiny, ``--size paper`` times the report's models at 224 px.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ai4m_kit.models.transformers import build_model
from ai4m_kit.ssl.drloc import DRLocHead, drloc_loss
from ai4m_kit.timing import interleaved_medians, set_threads

TARGET = 0.05


def step_pair(model: str, *, size: str, image_size: int, batch: int, pairs: int, hidden: int, lam: float = 0.5,
              device: torch.device | str = "cpu"):
    """Two zero-argument callables: one training step of the backbone alone, and with DRLoc."""
    torch.manual_seed(0)
    net = build_model(model, num_classes=10, in_channels=3, image_size=image_size, size=size).to(device)
    head = DRLocHead(net.grid_channels, hidden).to(device)
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=1e-4)
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(1)).to(device)
    y = (torch.arange(batch) % 10).to(device)
    g = torch.Generator(device=device).manual_seed(2)

    def backbone():
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def with_drloc():
        logits, grid = net.forward_with_grid(x)
        loss = F.cross_entropy(logits, y) + lam * drloc_loss(grid, head, pairs, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    params = sum(p.numel() for p in net.parameters())
    return backbone, with_drloc, params, net.grid_channels


def run(args: argparse.Namespace) -> int:
    """Time every model without and with DRLoc and print the overhead against the 5 % target. Returns 0."""
    threads = set_threads(args.threads)
    device = torch.device(args.device)
    image_size = args.image_size or (224 if args.size == "paper" else 28)
    hidden = args.head_hidden or (512 if args.size == "paper" else 128)
    print(f"ai4m bench drloc: one training step (forward, CE, backward, AdamW), {args.size} models at {image_size} px, "
          f"batch {args.batch}, m={args.pairs} pairs per image, head 2C→{hidden}→{hidden}→2, float32, "
          f"torch {torch.__version__}, {threads} thread(s), device {device}, median of {args.repeats} interleaved rounds")
    met_all = True
    for model in args.models:
        backbone, with_drloc, params, channels = step_pair(model, size=args.size, image_size=image_size,
                                                           batch=args.batch, pairs=args.pairs, hidden=hidden,
                                                           device=device)
        t = interleaved_medians({"backbone": backbone, "drloc": with_drloc}, repeats=args.repeats, device=device)
        over = t["drloc"] / t["backbone"] - 1.0
        met = over <= TARGET
        met_all &= met
        print(f"{model:<7} ({params / 1e6:6.2f} M params, grid C={channels:<4}) backbone {t['backbone'] * 1e3:9.2f} ms"
              f"   with DRLoc {t['drloc'] * 1e3:9.2f} ms   ratio {t['drloc'] / t['backbone']:.3f}   overhead "
              f"{over:+.1%} (target <= {TARGET:.0%}: {'met' if met else 'NOT met'})")
    print(f"target DRLoc overhead <= {TARGET:.0%} at m={args.pairs}: {'met for every model' if met_all else 'NOT met for every model'}")
    return 0
