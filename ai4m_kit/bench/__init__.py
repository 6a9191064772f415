"""Benchmarks: each prints ratios against a baseline measured in the same run (``ai4m bench ...``).

``coverage`` (SI/TI against siti-tools and FFmpeg), ``sqrtm`` (matrix square roots against
Newton-Schulz), ``eigh`` (batched eigensolvers against ``torch.linalg.eigh``). Timing helpers are
in :mod:`ai4m_kit.timing`. Import the module you need; this package imports none of them.
"""
