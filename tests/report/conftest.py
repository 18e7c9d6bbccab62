"""Shared by the report tests: the frozen inputs of the golden variant pages."""

from __future__ import annotations

import pytest

from tests.report import test_golden


@pytest.fixture
def frozen(monkeypatch):
    """``test_golden``'s helpers read the saved JSON the golden variant pages were built from."""
    monkeypatch.setattr(test_golden, "REPORTS", test_golden.FROZEN)
    return test_golden
