"""Command line: ``ai4m sample``, ``ai4m coverage``, ``ai4m bench ...``, ``ai4m report``.

Each topic module contributes its own sub-commands through a ``register(subparsers)`` function
(and benchmarks through ``register_bench(bench_subparsers)``), so this file stays a short index.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that add sub-commands. A module that fails to import because an optional
# dependency is missing is skipped, so the rest of the CLI still works.
COMMAND_MODULES = (
    "ai4m_kit.data.commands",
    "ai4m_kit.video.commands",
    "ai4m_kit.linalg.commands",
    "ai4m_kit.report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ai4m", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="benchmarks that print ratios against a baseline measured in the same run")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # topic not built yet
            raise
        if hasattr(module, "register"):
            module.register(sub)
        if hasattr(module, "register_bench"):
            module.register_bench(bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
