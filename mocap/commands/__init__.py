"""One module per CLI subcommand. Each defines ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse


def track_ids(text: str) -> tuple[int, ...]:
    """argparse type of ``--tracks``: comma-separated track ids, e.g. ``1,2``."""
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--tracks takes comma-separated track ids such as 1,2, not {text!r}"
        ) from None
    if not ids:
        raise argparse.ArgumentTypeError("--tracks needs at least one track id, e.g. --tracks 1")
    return ids
