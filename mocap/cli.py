"""The ``mocap`` command line: dispatches to one module per subcommand in :mod:`mocap.commands`.

This module owns logging setup and error reporting; library code never prints.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from mocap.errors import MocapError

# Subcommand modules in the order `mocap --help` lists them.
COMMANDS = ("run", "info", "synth", "render", "view", "export", "train", "models", "data")

log = logging.getLogger("mocap")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a cluster scheduler ending a job) raised as an interrupt, so a run stops the
    way Ctrl-C stops it: stores flush and close as "interrupted" (``--resume`` continues them), scratch files go."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mocap", description="Motion capture from ordinary video.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mocap.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"mocap.commands.{name}":
                continue  # not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    if args.verbose < 2:
        # A protobuf deprecation raised inside mediapipe says nothing a user can act on; -vv shows it.
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    # Signal handlers can only be set from the main thread (an embedding program may call main from another).
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        return int(args.handler(args) or 0)
    except MocapError as error:
        print(f"mocap {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except Terminated:
        print(f"mocap {args.command}: terminated (SIGTERM); what was done is kept", file=sys.stderr)
        return 143  # 128 + SIGTERM, as a shell reports a process the signal ended
    except KeyboardInterrupt:
        print(f"mocap {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
