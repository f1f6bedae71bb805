"""Fixtures shared by the explainer, masker and CLI tests."""

from __future__ import annotations

import pytest
import torch

import amx_core.models
from tests.tiny import tiny_classifier


@pytest.fixture
def one_thread():
    """Tiny convolutions run fastest single-threaded; on a shared CPU extra threads mostly spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny(monkeypatch):
    """The tiny CNN stands in for every model the CLIs load (fast, no weights needed)."""
    clf = tiny_classifier()
    monkeypatch.setattr(amx_core.models, "load_classifier", lambda *a, **k: clf)
    return clf
