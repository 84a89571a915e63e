"""Acclaim ASF (skeleton) + AMC (motion) reading, as in the CMU motion capture database.

ASF bones become joints at their start point (the root at the pelvis): a bone's vector
``direction * length`` is its children's offset, or its end site if it has none. Each bone's
local rotation is ``C M C^-1`` with ``C`` its ``axis`` (Euler angles in the given order) and ``M``
the AMC values of its ``dof`` in listed order, both extrinsic (x applied first for "XYZ") and
expressed in the global rest axes, as the Acclaim format defines them. CMU lengths are in
inches times the ASF ``length`` multiplier (0.45), so ``unit_m = 0.0254 / length``; CMU is y-up.

Example:
    >>> skeleton = read_asf("01.asf")                 # doctest: +SKIP
    >>> motion = read_amc("01_01.amc", skeleton)      # doctest: +SKIP
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocap.body.rotations import euler_to_matrix
from mocap.errors import SourceError
from mocap.motion.skeleton import Motion, Skeleton

AMC_FPS = 120.0  # CMU captures at 120 Hz; AMC stores no frame rate
_BVH_ROTATION = ("Zrotation", "Yrotation", "Xrotation")


@dataclass(frozen=True, eq=False)
class AsfSkeleton:
    """An ASF skeleton: the joint hierarchy plus what AMC decoding needs.

    Attributes:
        skeleton: joints ("root" first), offsets in ASF length units.
        dofs: per joint, its AMC value names in order ("tx", "rx", ...; root included).
        axes: (J, 3, 3) each joint's ``C`` matrix.
        unit_m: metres per ASF length unit.
        angle_scale: radians per AMC angle unit.
    """

    skeleton: Skeleton
    dofs: tuple[tuple[str, ...], ...]
    axes: np.ndarray
    unit_m: float
    angle_scale: float


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as f:
                return f.read()
        return path.read_text()
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error}") from error


def _sections(text: str) -> dict[str, list[str]]:
    """Split an ASF into ':keyword' sections of stripped, non-comment lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            keyword, _, rest = line[1:].partition(" ")
            current = keyword.lower()
            sections[current] = [rest.strip()] if rest.strip() else []
        else:
            sections.setdefault(current, []).append(line)
    return sections


def _euler(angles: list[float], order: str, angle_scale: float) -> np.ndarray:
    return euler_to_matrix(np.asarray(angles) * angle_scale, order, extrinsic=True)


def read_asf(path: str | Path, unit_m: float | None = None) -> AsfSkeleton:
    """Read an ASF skeleton; ``unit_m`` None = inches times the file's ``length`` multiplier."""
    path = Path(path)
    sections = _sections(_read_text(path))
    if "bonedata" not in sections or "hierarchy" not in sections:
        raise SourceError(f"{path} is not an ASF skeleton: it needs :bonedata and :hierarchy sections")
    units = dict(line.split()[:2] for line in sections.get("units", []))
    angle_scale = np.pi / 180.0 if units.get("angle", "deg").startswith("deg") else 1.0
    unit = unit_m if unit_m is not None else 0.0254 / float(units.get("length", 1.0))

    root = {line.split()[0]: line.split()[1:] for line in sections.get("root", [])}
    bones: dict[str, dict[str, list[str]]] = {}
    for line in sections["bonedata"]:
        word, *values = line.split()
        if word == "begin":
            fields: dict[str, list[str]] = {}
        elif word == "end":
            bones[fields["name"][0]] = fields
        elif word in ("id", "name", "direction", "length", "axis", "dof"):
            fields[word] = values

    children: dict[str, list[str]] = {}
    for line in sections["hierarchy"]:
        parent, *kids = line.split()
        if parent not in ("begin", "end"):
            children.setdefault(parent, []).extend(kids)
    names: list[str] = []
    parents: list[int] = []

    def visit(name: str, parent: int) -> None:  # depth-first, the order BVH writes joints in
        if name != "root" and name not in bones:
            raise SourceError(f"{path}: the hierarchy names bone {name!r}, which :bonedata does not define")
        names.append(name)
        parents.append(parent)
        index = len(names) - 1
        for kid in children.get(name, []):
            visit(kid, index)

    visit("root", -1)

    def vector(name: str) -> np.ndarray:
        if name == "root":
            return np.zeros(3)
        return np.asarray(bones[name]["direction"], dtype=float) * float(bones[name]["length"][0])

    offsets = np.stack(
        [np.asarray(root.get("position", [0, 0, 0]), dtype=float)] + [vector(names[p]) for p in parents[1:]]
    )
    end_offsets = np.stack([vector(n) if n != "root" and not children.get(n) else np.full(3, np.nan) for n in names])
    root_axis = _euler(
        [float(v) for v in root.get("orientation", ["0", "0", "0"])], root.get("axis", ["XYZ"])[0], angle_scale
    )
    axes = [root_axis] + [
        _euler([float(v) for v in bones[n]["axis"][:3]], bones[n]["axis"][3], angle_scale) for n in names[1:]
    ]
    dofs = [tuple(v.lower() for v in root.get("order", ["TX", "TY", "TZ", "RX", "RY", "RZ"]))]
    dofs += [tuple(v.lower() for v in bones[n].get("dof", [])) for n in names[1:]]
    channels = [("Xposition", "Yposition", "Zposition", *_BVH_ROTATION)] + [_BVH_ROTATION] * (len(names) - 1)
    skeleton = Skeleton(tuple(names), np.asarray(parents), offsets, tuple(channels), end_offsets)
    return AsfSkeleton(skeleton, tuple(dofs), np.stack(axes), unit, angle_scale)


def read_amc(path: str | Path, asf: AsfSkeleton, fps: float = AMC_FPS) -> Motion:
    """Read an AMC motion for ``asf`` into a :class:`Motion` (bones absent from a frame stay at rest)."""
    path = Path(path)
    frames: list[dict[str, list[float]]] = []
    for raw in _read_text(path).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        word, *numbers = line.split()
        if not numbers and word.isdigit():
            frames.append({})
        elif frames:
            frames[-1][word] = [float(v) for v in numbers]
    if not frames:
        raise SourceError(f"{path} holds no AMC frames (lines of a frame number, then one line per bone)")
    skeleton = asf.skeleton
    num_frames, num_joints = len(frames), len(skeleton)
    rotations = np.tile(np.eye(3), (num_frames, num_joints, 1, 1))
    translation = np.zeros((num_frames, 3))
    for j, (name, dofs) in enumerate(zip(skeleton.names, asf.dofs, strict=True)):
        rows = [frame.get(name, [0.0] * len(dofs)) for frame in frames]
        bad = next((t for t, row in enumerate(rows) if len(row) != len(dofs)), None)
        if bad is not None:
            raise SourceError(f"{path}: frame {bad + 1} gives {name} {len(rows[bad])} values, ASF says {dofs}")
        values = np.asarray(rows, dtype=np.float64).reshape(num_frames, len(dofs))
        for k, dof in enumerate(dofs):
            if dof.startswith("t") and j == 0:
                translation[:, "xyz".index(dof[1])] = values[:, k]
        rot = [k for k, dof in enumerate(dofs) if dof.startswith("r")]
        if rot:
            # Extrinsic Euler in listed order; axes without a dof are appended with zero angles.
            order = "".join(dofs[k][1] for k in rot)
            order += "".join(a for a in "xyz" if a not in order)
            angles = np.zeros((num_frames, 3))
            angles[:, : len(rot)] = values[:, rot] * asf.angle_scale
            c = asf.axes[j]
            rotations[:, j] = c @ euler_to_matrix(angles, order, extrinsic=True) @ c.T
    translation = translation * asf.unit_m  # the ASF root position is the root joint's offset
    return Motion(skeleton, rotations, translation, fps=fps, unit_m=asf.unit_m)
