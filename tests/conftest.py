"""Shared test settings: a non-interactive matplotlib backend and closed figures."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figs():
    """Close every matplotlib figure a test opened (seaborn's habit)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
