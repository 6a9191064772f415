"""Shared test settings: the device comes from AI4M_TEST_DEVICE (default cpu)."""

import os

# The "triton" eigensolver runs on CPU tensors through Triton's interpreter, which must be switched
# on before triton is first imported (by torch or by ai4m_kit.linalg.eigh).
if os.environ.get("AI4M_TEST_DEVICE", "cpu") == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device(os.environ.get("AI4M_TEST_DEVICE", "cpu"))
