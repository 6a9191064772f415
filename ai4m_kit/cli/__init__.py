"""Command line: ``ai4m sample``, ``ai4m coverage``, ``ai4m report``, ``ai4m bench ...``.

The only layer that parses arguments, prints errors and exits. One module per command, imported
only when that command runs (``ai4m --help`` imports none of them). Every error ends the command
with one line on stderr naming the file or argument and the problem, and a non-zero exit status
(2: bad arguments, 1: bad input or a failed run, 130: interrupted); ``--debug`` (anywhere on the
command line, or ``AI4M_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module under ai4m_kit.cli, one-line help). Each module has add_arguments(parser)
# and run(args) -> exit status.
COMMANDS = {
    "sample": ("sample", "generate the embedded sample corpus (BSC4K layout: <clip>/4k, <clip>/1080p)"),
    "coverage": ("coverage", "per-frame SI, TI and colourfulness of a corpus, to NetCDF (resumable)"),
    "degrade": ("degrade", "degrade a clip (bicubic, blur or BSRGAN downscaling), one parameter draw per clip"),
    "upscale": ("upscale", "upscale a clip (nearest, bilinear, bicubic, Lanczos-3 or a trained SR network)"),
    "train-sr": ("train_sr", "train a small video super-resolution network (blind or real degradations)"),
    "ssl": ("ssl", "self-supervised training (W-MSE, SimCLR, BYOL) and linear / 5-NN evaluation"),
    "sudds": ("sudds", "SUDDS: train a detector of synthetic upscaling, or detect upscaled video (per-frame votes)"),
    "drloc": ("drloc", "train a vision transformer with the DRLoc dense relative localisation loss"),
    "report": ("report", "execute every notebook and write an offline HTML report"),
    "quality": ("quality", "per-frame PSNR, SSIM, MS-SSIM and VMAF of a clip against its reference, to NetCDF"),
    "subjective": ("subjective", "expert viewing (BT.500): plan sessions, render them, scoring sheets, analyse votes"),
    "bench": ("bench", "benchmarks that print ratios against a baseline measured in the same run"),
}

# What a user can fix: bad input, bad arguments, missing files. Anything else is a bug of ours.
USER_ERRORS = (ValueError, OSError, LookupError, ImportError)


class CommandError(Exception):
    """An error a command reports as one line (its message), exit status ``status``."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise CommandError(f"{self.prog}: error: {message}", status=2)


def check_output_folder(src, dst) -> None:
    """Refuse an output folder that is the input, lies inside it, is a file or is not empty:
    commands that write frames never overwrite their input or anyone's files."""
    from pathlib import Path

    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise CommandError(f"SRC {src}: no such frame folder or video file")
    s, d = src.resolve(), dst.resolve()
    if d == s:
        raise CommandError(f"DST {dst}: is the source (SRC or inside it); inputs are never overwritten", 2)
    if s.is_dir() and d.is_relative_to(s):
        raise CommandError(f"DST {dst}: lies inside the source folder {src} (SRC or inside it); give a folder outside it", 2)
    if dst.exists() and not dst.is_dir():
        raise CommandError(f"DST {dst}: exists and is not a folder; nothing was changed", 2)
    if dst.is_dir() and any(dst.iterdir()):
        raise CommandError(f"DST {dst}: folder is not empty; give a new or empty folder (nothing was changed)", 2)


def _command_module(name: str):
    return importlib.import_module(f"ai4m_kit.cli.{COMMANDS[name][0]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``ai4m`` parser; only ``command``'s module is imported to add its arguments."""
    parser = _Parser(prog="ai4m", description=__doc__.splitlines()[0],
                     epilog="--debug anywhere on the command line shows tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _command_module(name).add_arguments(p)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _message(err: BaseException) -> str:
    if isinstance(err, CommandError):
        return str(err)
    if isinstance(err, FileNotFoundError) and err.filename is not None:
        return f"{err.filename}: no such file or folder"
    if isinstance(err, PermissionError) and err.filename is not None:
        return f"{err.filename}: permission denied"
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, KeyError):
        return f"unknown key {err}"
    if isinstance(err, USER_ERRORS):
        return str(err)
    return f"internal error {type(err).__name__}: {err} (please report it; --debug shows the traceback)"


def main(argv: list[str] | None = None) -> int:
    """Run ``ai4m`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("AI4M_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), None)
    prog = "ai4m" if command not in COMMANDS else f"ai4m {command}"
    try:
        args = build_parser(command if command in COMMANDS else None).parse_args(argv)
        return int(args.run(args) or 0)
    except SystemExit as err:  # --help, or a command that exits on purpose
        return int(err.code or 0) if isinstance(err.code, int) or err.code is None else _fail(prog, err.code, 1)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one error path of the command line
        if debug:
            raise
        status = err.status if isinstance(err, CommandError) else 1
        return _fail(prog, _message(err), status)


def _fail(prog: str, message, status: int) -> int:
    message = _one_line(message)
    if not message.startswith("ai4m"):
        message = f"{prog}: error: {message}"
    print(message, file=sys.stderr)
    return status
