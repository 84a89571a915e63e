"""``mocap info run.zarr``: summarise a store (source, frames, tracks, fields, bytes per person-frame)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise a zarr store", description="Summarise a mocap zarr store.")
    p.add_argument("store", type=Path, help="a store written by `mocap run` or `mocap synth`")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mocap.io.store import open_store

    print(open_store(args.store).summary())
    return 0
