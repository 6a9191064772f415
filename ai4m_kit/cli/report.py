"""``ai4m report``: execute every notebook and write an offline HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ai4m_kit.profiles import PROFILES

from . import CommandError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--notebooks", default="notebooks", help="folder of NN_name.ipynb notebooks")
    p.add_argument("--out", default="reports", help="output folder (index.html, one page per notebook)")
    p.add_argument("--profile", default=None, choices=PROFILES, help="default: $AI4M_PROFILE, else demo")
    p.add_argument("--only", nargs="+", default=None, metavar="KEY",
                   help="run only notebooks whose file name contains one of these, e.g. 00 01")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ai4m_kit.report import build_report, select_notebooks

    select_notebooks(Path(args.notebooks), args.only)  # checks the selection before any work
    failures = build_report(Path(args.notebooks), Path(args.out), args.profile, args.only)
    if failures:
        raise CommandError(f"{failures} notebook(s) failed; see {Path(args.out) / 'index.html'}")
    return 0
