"""BVH (Biovision hierarchy) reading and writing.

Reads any rotation channel order per joint (intrinsic Euler angles in channel order, degrees),
position channels on the root, ``End Site`` blocks, and gzip-compressed files (``.bvh.gz``).
Units are not stored in BVH: pass ``unit_m`` (metres per file unit) or let
:func:`~mocap.motion.skeleton.guess_unit_m` pick m / cm / mm / inch / CMU units from the body size.

Example:
    >>> motion = read_bvh("131_01.bvh")          # doctest: +SKIP
    >>> write_bvh(motion, "copy.bvh")             # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from mocap.body.rotations import euler_to_matrix, matrix_to_euler
from mocap.errors import SourceError
from mocap.motion.skeleton import Motion, Skeleton, guess_unit_m

log = logging.getLogger(__name__)

_ROTATION_AXES = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POSITION_AXES = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


def _open_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as f:
            return f.read()
    return path.read_text()


class _Parser:
    """Recursive-descent parser over the whitespace tokens of the HIERARCHY section."""

    def __init__(self, tokens: list[str], path: Path) -> None:
        self.tokens, self.pos, self.path = tokens, 0, path
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[list[float]] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_offsets: list[list[float]] = []

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise SourceError(f"{self.path}: the BVH hierarchy ends early; the file is truncated or not BVH")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, word: str) -> None:
        token = self.next()
        if token != word:
            raise SourceError(f"{self.path}: expected {word!r} in the BVH hierarchy, found {token!r}")

    def floats(self, n: int) -> list[float]:
        tokens = [self.next() for _ in range(n)]
        try:
            return [float(t) for t in tokens]
        except ValueError:
            raise SourceError(f"{self.path}: expected {n} numbers in the BVH hierarchy, found {tokens}") from None

    def joint(self, parent: int) -> None:
        index = len(self.names)
        self.names.append(self.next())
        self.parents.append(parent)
        self.expect("{")
        self.expect("OFFSET")
        self.offsets.append(self.floats(3))
        self.expect("CHANNELS")
        self.channels.append(tuple(self.next() for _ in range(int(self.next()))))
        self.end_offsets.append([np.nan] * 3)
        while (token := self.next()) != "}":
            if token == "JOINT":
                self.joint(index)
            elif token == "End":
                self.expect("Site")
                self.expect("{")
                self.expect("OFFSET")
                self.end_offsets[index] = self.floats(3)
                self.expect("}")
            else:
                raise SourceError(f"{self.path}: unexpected {token!r} in joint {self.names[index]!r}")


def read_bvh(path: str | Path, unit_m: float | None = None) -> Motion:
    """Read a BVH file (or ``.bvh.gz``) into a :class:`Motion`; ``unit_m`` None = guess from body size."""
    path = Path(path)
    try:
        text = _open_text(path)
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error}") from error
    head, sep, body = text.partition("MOTION")
    if not sep or "ROOT" not in head:
        raise SourceError(f"{path} is not a BVH file: it needs a HIERARCHY with a ROOT and a MOTION section")
    parser = _Parser(head.split(), path)
    parser.pos = parser.tokens.index("ROOT") + 1
    parser.joint(-1)
    skeleton = Skeleton(
        names=tuple(parser.names),
        parents=np.asarray(parser.parents, dtype=np.int64),
        offsets=np.asarray(parser.offsets, dtype=np.float64),
        channels=tuple(parser.channels),
        end_offsets=np.asarray(parser.end_offsets, dtype=np.float64),
    )
    lines = body.strip().splitlines()
    try:
        num_frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array(" ".join(lines[2 : 2 + num_frames]).split(), dtype=np.float64)
    except (IndexError, ValueError) as error:
        raise SourceError(
            f"{path}: the MOTION section needs 'Frames: N', 'Frame Time: S' and N rows of numbers"
        ) from error
    width = sum(len(c) for c in skeleton.channels)
    if values.size != num_frames * width:
        raise SourceError(f"{path}: expected {num_frames} frames of {width} values, got {values.size} values")
    unit = guess_unit_m(skeleton) if unit_m is None else unit_m
    rotations, translation = _decode_frames(values.reshape(num_frames, width), skeleton, path)
    return Motion(skeleton, rotations, translation * unit, fps=1.0 / frame_time, unit_m=unit)


def _decode_frames(frames: np.ndarray, skeleton: Skeleton, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, C) channel values -> (T, J, 3, 3) local rotations, (T, 3) root translation in file units."""
    num_frames = len(frames)
    rotations = np.tile(np.eye(3), (num_frames, len(skeleton), 1, 1))
    translation = np.zeros((num_frames, 3))
    column = 0
    for j, channels in enumerate(skeleton.channels):
        block = frames[:, column : column + len(channels)]
        column += len(channels)
        rot_cols = [i for i, c in enumerate(channels) if c in _ROTATION_AXES]
        if len(rot_cols) == 3:
            order = "".join(_ROTATION_AXES[channels[i]] for i in rot_cols)
            rotations[:, j] = euler_to_matrix(np.deg2rad(block[:, rot_cols]), order)
        elif rot_cols:
            raise SourceError(f"{path}: joint {skeleton.names[j]!r} has {len(rot_cols)} rotation channels, not 3")
        for i, c in enumerate(channels):
            if c in _POSITION_AXES:
                if j == 0:
                    translation[:, _POSITION_AXES[c]] = block[:, i]
                else:
                    log.warning("%s: position channels on non-root joint %s are ignored", path, skeleton.names[j])
                    break
    return rotations, translation


def write_bvh(motion: Motion, path: str | Path, precision: int = 6) -> None:
    """Write ``motion`` as BVH with its skeleton's channels (root gets 6 if it had none), degrees."""
    skeleton = motion.skeleton
    channels = list(skeleton.channels)
    if not any(c in _POSITION_AXES for c in channels[0]):
        channels[0] = ("Xposition", "Yposition", "Zposition", *tuple(c for c in channels[0] if c in _ROTATION_AXES))
    children: list[list[int]] = [[] for _ in skeleton.names]
    for j in range(1, len(skeleton)):
        children[skeleton.parents[j]].append(j)
    fmt = f"{{:.{precision}f}}"
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {skeleton.names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET " + " ".join(fmt.format(v) for v in skeleton.offsets[j]))
        lines.append(f"{pad}\tCHANNELS {len(channels[j])} " + " ".join(channels[j]))
        for child in children[j]:
            emit(child, depth + 1)
        if not np.isnan(skeleton.end_offsets[j, 0]):
            lines.append(f"{pad}\tEnd Site")
            lines.append(pad + "\t{")
            lines.append(f"{pad}\t\tOFFSET " + " ".join(fmt.format(v) for v in skeleton.end_offsets[j]))
            lines.append(pad + "\t}")
        lines.append(pad + "}")

    emit(0, 0)
    columns = []
    for j, joint_channels in enumerate(channels):
        order = "".join(_ROTATION_AXES[c] for c in joint_channels if c in _ROTATION_AXES)
        euler_deg = np.rad2deg(matrix_to_euler(motion.rotations[:, j], order)) if order else None
        for c in joint_channels:
            if c in _POSITION_AXES:
                columns.append(motion.root_translation_m[:, _POSITION_AXES[c]] / motion.unit_m)
            else:
                assert euler_deg is not None
                columns.append(euler_deg[:, order.index(_ROTATION_AXES[c])])
    table = np.stack(columns, axis=1) if columns else np.zeros((len(motion), 0))
    lines += ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [" ".join(fmt.format(v) for v in row) for row in table]
    Path(path).write_text("\n".join(lines) + "\n")
