"""Typed errors. Every message says what went wrong and how to fix it.

The CLI catches :class:`MocapError`, prints its message on one line and exits
with :attr:`MocapError.exit_code`; anything else is a bug and shows a traceback.
"""

from __future__ import annotations


class MocapError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code: int = 1


class SourceError(MocapError):
    """A video, image folder or webcam cannot be opened or read."""

    exit_code = 2


class StoreError(MocapError):
    """A zarr store is missing, locked, from another schema, or exists already."""

    exit_code = 3


class ModelNotFoundError(MocapError):
    """A model file the chosen path needs is absent."""

    exit_code = 4


class ConfigError(MocapError):
    """A flag or config value is invalid."""

    exit_code = 5


class NoPersonError(MocapError):
    """Nobody was detected in the whole input."""

    exit_code = 6


class CheckpointError(MocapError):
    """A checkpoint does not match the network it is loaded into."""

    exit_code = 7


class MocapWarning(UserWarning):
    """Soft degradation: the run continues, but the user should know."""
