"""``ai4m bench sqrtm`` and ``ai4m bench eigh``: contributed by the topic modules."""

from __future__ import annotations

import importlib

BENCH_MODULES = ("ai4m_kit.linalg.commands_sqrtm", "ai4m_kit.linalg.commands_eigh")


def register_bench(bench_sub) -> None:
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register_bench(bench_sub)
