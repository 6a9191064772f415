"""Files of trained networks, marked with what wrote them.

Every network file the toolkit writes is a ``torch.save`` dictionary with a ``made_by`` mark and the
library version. A command overwrites only a file with its own mark (never a user's file), and loads
only files with the mark it expects, so a wrong file gets a one-line error instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def file_mark(path: str | os.PathLike) -> str | None:
    """The ``made_by`` mark of a torch file, or None if it is missing, unreadable or unmarked."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - unreadable: certainly not ours
        return None
    return state.get("made_by") if isinstance(state, dict) else None


def check_overwrite(path: str | os.PathLike, mark: str, writer: str) -> None:
    """Refuse to replace an existing ``path`` that ``writer`` (e.g. "ai4m train-sr") did not write."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a .pt file name")
    if path.exists() and file_mark(path) != mark:
        raise ValueError(f"{path}: exists and was not written by {writer}; choose another file")


def save_marked(path: str | os.PathLike, mark: str, writer: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``made_by=mark`` and the library version to ``path``, atomically; an
    existing file is replaced only if it carries the same mark."""
    from .. import __version__
    from ..files import atomic_path

    path = Path(path)
    check_overwrite(path, mark, writer)
    with atomic_path(path) as tmp:
        torch.save({"made_by": mark, **payload, "ai4m_kit_version": __version__}, tmp)
    return path


def load_marked(path: str | os.PathLike, mark: str, writer: str, device: str | torch.device = "cpu", *,
                what: str = "network file") -> dict[str, Any]:
    """The dictionary of a file written with ``mark``; a clear error ("not a ``what`` written by
    ``writer``") for any other file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: not a {what} written by {writer} ({type(err).__name__})") from err
    if not isinstance(state, dict) or state.get("made_by") != mark:
        raise ValueError(f"{path}: not a {what} written by {writer}")
    return state
