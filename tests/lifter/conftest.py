"""Lifter tests run single-threaded, as the MEGA tests do (tests/mega/conftest.py)."""

from tests.mega.conftest import single_thread

__all__ = ["single_thread"]
