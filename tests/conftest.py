"""Shared test settings: the device comes from AI4M_TEST_DEVICE (default cpu)."""

import os

import pytest
import torch


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device(os.environ.get("AI4M_TEST_DEVICE", "cpu"))
