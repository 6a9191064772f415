"""Option types and checks shared by the commands (pure argparse; torch only inside check_device)."""

from __future__ import annotations

import argparse

from . import CommandError


def positive_int(text: str) -> int:
    """argparse type for an integer >= 1.

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def positive_ints(text: str) -> list[int]:
    """argparse type for comma-separated positive integers, e.g. ``--dims 4,8,16``.

    Example:
        >>> positive_ints("4, 8,16")
        [4, 8, 16]
    """
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers; got {text!r}")
    return values


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0; got {text!r}")
    return value


def descriptor_names(text: str) -> tuple[str, ...]:
    """argparse type for ``--descriptors si,ti,cf`` (any non-empty subset, canonical order).

    Example:
        >>> descriptor_names("cf,si")
        ('si', 'cf')
    """
    from ai4m_kit.video.coverage import descriptor_set

    try:
        return descriptor_set(text.lower())
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise CommandError(f"--device {device!r}: not a torch device ({err})", 2) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {device}: CUDA is not available on this machine", 2)


def frame_size(text: str) -> tuple[int, int]:
    """argparse type for ``WIDTHxHEIGHT``.

    Example:
        >>> frame_size("1920x1080")
        (1920, 1080)
    """
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1920x1080; got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a positive WIDTHxHEIGHT; got {text!r}")
    return w, h


def even_frame_size(text: str) -> tuple[int, int]:
    """:func:`frame_size` with even width and height (x2 degradations)."""
    w, h = frame_size(text)
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"expected even width and height >= 2 (x2 degradations); got {text!r}")
    return w, h


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """The options every image-training command shares (``ai4m ssl train``, ``ai4m drloc train``)."""
    from ai4m_kit.profiles import PROFILES

    p.add_argument("--data", default="mnist5k", help="offline set (mnist5k, photo-textures, digits, lfw) or a folder "
                                                    "(CIFAR pickles, STL-10 binaries, Tiny ImageNet, ImageFolder)")
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="model size and schedule (default $AI4M_PROFILE, else demo)")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps (default: the profile's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
