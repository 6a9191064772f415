"""Small video super-resolution networks of the BasicVSR family, and a feature hook.

:class:`CompactBasicVSR` follows BasicVSR's structure at a size that trains in minutes on a CPU:
per frame, a backward and a forward recurrent branch each warp the hidden state of the
neighbouring frame onto the current one with a learned optical flow (a small flow network, not
SPyNet), concatenate it with the current LR frame and refine it with residual blocks; the two
states are fused by a 1×1 convolution and upsampled by pixel shuffle, added to a bilinear
upsampling of the input. With ``clean=True`` a residual cleaning module is applied to every LR
frame first, as RealBasicVSR does for inputs with real-world degradations.

Any ``nn.Module`` can take the place of these networks wherever the toolkit upscales video
(``ai4m_kit.video.upscale``): it receives ``(B, T, 3, h, w)`` when it has ``temporal = True``,
else ``(N, 3, h, w)``, in [0, 1], and returns the upscaled frames. :func:`pooled_features` reads
the mean activation per channel of any named layers through forward hooks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlocks(nn.Module):
    """``n`` blocks of conv-ReLU-conv with identity shortcuts (no batch norm, as in EDSR/BasicVSR)."""

    def __init__(self, channels: int, n: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU(inplace=True),
                          nn.Conv2d(channels, channels, 3, 1, 1)) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


class FlowNet(nn.Module):
    """A small network predicting the optical flow (in pixels) from ``ref`` to ``other``; its last
    layer starts at zero, so an untrained network predicts no motion."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(6, channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 2, dilation=2), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 4, dilation=4), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, 2, 3, 1, 1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, ref: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([ref, other], dim=1))


def flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` ``(N, C, H, W)`` at positions displaced by ``flow`` ``(N, 2, H, W)`` (x, y in
    pixels), bilinearly, with border replication.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> torch.equal(flow_warp(x, torch.zeros(1, 2, 4, 4)), x)
        True
    """
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")
    gx = 2 * (xs + flow[:, 0]) / max(w - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(h - 1, 1) - 1
    return F.grid_sample(x, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border",
                         align_corners=True)


class CompactBasicVSR(nn.Module):
    """Bidirectional recurrent VSR (BasicVSR structure) sized for a CPU; ``(B, T, 3, h, w)`` in
    [0, 1] to ``(B, T, 3, scale·h, scale·w)``.

    Named layers for :func:`pooled_features` (each seen once per frame, in time order):
    ``clean`` (the cleaned LR frames, with ``clean=True``), ``backward_out`` and ``forward_out``
    (the two branches' hidden states), ``fusion`` and ``upsample`` (before the last conv).

    Example:
        >>> net = CompactBasicVSR(channels=8, blocks=1)
        >>> net(torch.rand(1, 3, 3, 12, 16)).shape
        torch.Size([1, 3, 3, 24, 32])
    """

    temporal = True

    def __init__(self, channels: int = 32, blocks: int = 3, scale: int = 2, clean: bool = False,
                 flow_channels: int = 16) -> None:
        super().__init__()
        if scale not in (2, 4):
            raise ValueError(f"scale must be 2 or 4; got {scale}")
        self.channels, self.scale, self.has_clean = channels, scale, clean
        self.clean = (nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), ResidualBlocks(channels, 2),
                                    nn.Conv2d(channels, 3, 3, 1, 1)) if clean else None)
        self.flow = FlowNet(flow_channels)
        self.backward_trunk = nn.Sequential(nn.Conv2d(3 + channels, channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
                                            ResidualBlocks(channels, blocks))
        self.forward_trunk = nn.Sequential(nn.Conv2d(3 + channels, channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
                                           ResidualBlocks(channels, blocks))
        self.backward_out, self.forward_out = nn.Identity(), nn.Identity()
        self.fusion = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.LeakyReLU(0.1, inplace=True))
        steps = []
        for _ in range({2: 1, 4: 2}[scale]):
            steps += [nn.Conv2d(channels, 4 * channels, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, inplace=True)]
        self.upsample = nn.Sequential(*steps)
        self.last = nn.Conv2d(channels, 3, 3, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}, clean={self.has_clean}"

    def cleaned(self, lr: torch.Tensor) -> torch.Tensor:
        """The cleaning stage on ``(N, 3, h, w)`` frames (identity without ``clean``)."""
        if self.clean is None:
            return lr
        return (lr + self.clean(lr)).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != 3:
            raise ValueError(f"x must be (B, T, 3, h, w) frames; got shape {tuple(x.shape)}")
        b, t, c, h, w = x.shape
        lr = self.cleaned(x.reshape(b * t, c, h, w)).reshape(b, t, c, h, w)
        # flows between neighbours: to the next frame (for the backward branch) and to the previous
        if t > 1:
            cur, nxt = lr[:, :-1].reshape(-1, c, h, w), lr[:, 1:].reshape(-1, c, h, w)
            flow_next = self.flow(cur, nxt).reshape(b, t - 1, 2, h, w)
            flow_prev = self.flow(nxt, cur).reshape(b, t - 1, 2, h, w)
        state = x.new_zeros(b, self.channels, h, w)
        back = [None] * t
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                state = flow_warp(state, flow_next[:, i])
            state = self.backward_trunk(torch.cat([lr[:, i], state], dim=1))
            back[i] = state
        state = x.new_zeros(b, self.channels, h, w)
        fwd = []
        for i in range(t):
            if i > 0:
                state = flow_warp(state, flow_prev[:, i - 1])
            state = self.forward_trunk(torch.cat([lr[:, i], state], dim=1))
            fwd.append(state)
        # stacked frame-major (b, t) so that hooks see every frame once, in time order
        hb = self.backward_out(torch.stack(back, 1).reshape(b * t, self.channels, h, w))
        hf = self.forward_out(torch.stack(fwd, 1).reshape(b * t, self.channels, h, w))
        feat = self.upsample(self.fusion(torch.cat([hb, hf], dim=1)))
        base = F.interpolate(lr.reshape(b * t, c, h, w), scale_factor=self.scale, mode="bilinear",
                             align_corners=False)
        out = base + self.last(feat)
        return out.reshape(b, t, c, self.scale * h, self.scale * w)


def pooled_features(model: nn.Module, frames: torch.Tensor, layers: list[str] | tuple[str, ...],
                    *, chunk: int = 8) -> dict[str, torch.Tensor]:
    """Mean activation over space per channel of the named ``layers`` of ``model`` on ``frames``.

    Args:
        model: any module; its named submodules (``dict(model.named_modules())``) are hooked.
        frames: ``(T, 3, h, w)`` LR frames in [0, 1] (one clip). A model with ``temporal = True``
            gets ``(1, t, 3, h, w)`` chunks of ``chunk`` frames, others ``(t, 3, h, w)``.
        layers: names of submodules whose outputs are pooled.
        chunk: frames per forward pass.

    Returns:
        ``{layer: (N, C)}`` in call order: one row per frame for layers seen once per frame
        (all the layers of :class:`CompactBasicVSR`).

    Example:
        >>> net = CompactBasicVSR(channels=8, blocks=1).eval()
        >>> f = pooled_features(net, torch.rand(5, 3, 8, 8), ["fusion", "backward_out"], chunk=3)
        >>> f["fusion"].shape, f["backward_out"].shape
        (torch.Size([5, 8]), torch.Size([5, 8]))
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (T, 3, h, w); got shape {tuple(frames.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules or name == ""]
    if missing:
        raise ValueError(f"layers {missing} not in the model; have {[n for n in modules if n][:30]}")
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = []
    for name in layers:
        def hook(_module, _inputs, output, name=name):
            if output.ndim != 4:
                raise ValueError(f"layer {name!r} outputs shape {tuple(output.shape)}; pooled features need (N, C, H, W)")
            rows[name].append(output.detach().mean(dim=(-2, -1)).float().cpu())
        hooks.append(modules[name].register_forward_hook(hook))
    temporal = getattr(model, "temporal", False)
    try:
        with torch.no_grad():
            for s in range(0, frames.shape[0], chunk):
                part = frames[s:s + chunk]
                model(part[None] if temporal else part)
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(v) for name, v in rows.items()}
