"""Source skeletons and their motion, as read from BVH or ASF/AMC files.

Conventions: a joint sits at the start of its bone; ``offsets[j]`` is joint j's rest position
relative to its parent, in the file's units and axes; rotations are local (relative to the parent)
and act in the file's rest-pose axes, so forward kinematics is
``G_j = G_parent(j) @ R_j`` and ``p_j = p_parent(j) + G_parent(j) @ offset_j``. The root's
position is its offset plus ``root_translation_m`` (BVH root OFFSET + position channels).

Example:
    >>> motion = read_bvh("walk.bvh")                      # doctest: +SKIP
    >>> motion.resample(30.0).joint_positions_m().shape    # doctest: +SKIP
    (T, J, 3)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.rotations import matrix_to_quaternion, quaternion_to_matrix

# Candidate file units (metres per unit) for guess_unit_m: m, cm, mm, inch, CMU ASF unit (inch/0.45).
UNIT_CANDIDATES_M = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A joint hierarchy in its rest pose.

    Attributes:
        names: J joint names, parents before children.
        parents: (J,) parent index, -1 for the root (index 0).
        offsets: (J, 3) rest offset from the parent joint, file units and axes.
        channels: per joint, its BVH channel names in file order (e.g. ("Zrotation", "Xrotation", "Yrotation")).
        end_offsets: (J, 3) offset of the joint's end site (leaf tip), NaN where it has none.
    """

    names: tuple[str, ...]
    parents: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.float64]
    channels: tuple[tuple[str, ...], ...]
    end_offsets: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.parents.shape != (n,) or self.offsets.shape != (n, 3) or self.end_offsets.shape != (n, 3):
            raise ValueError(f"skeleton arrays must have {n} rows, one per joint")
        if self.parents[0] != -1 or any(self.parents[j] >= j or self.parents[j] < 0 for j in range(1, n)):
            raise ValueError("skeleton joints must be ordered parents before children, root first")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rest_positions(self) -> npt.NDArray[np.float64]:
        """(J, 3) rest joint positions in file units, root at the origin."""
        positions = np.zeros((len(self), 3))
        for j in range(1, len(self)):
            positions[j] = positions[self.parents[j]] + self.offsets[j]
        return positions

    def rest_extent(self) -> float:
        """Largest bounding-box side of the rest joints and end sites, file units (about body height)."""
        positions = self.rest_positions()
        has_end = ~np.isnan(self.end_offsets[:, 0])
        points = np.concatenate([positions, positions[has_end] + self.end_offsets[has_end]])
        return float((points.max(0) - points.min(0)).max())


def guess_unit_m(skeleton: Skeleton, height_m: float = 1.45) -> float:
    """Metres per file unit: the candidate in :data:`UNIT_CANDIDATES_M` making the rest skeleton
    (joints and end sites, no head top or soles) closest to ``height_m``.

    The candidates differ by at least 2.2x, so a body between 1.0 and 2.2 m picks the right one.
    """
    extent = skeleton.rest_extent()
    return min(UNIT_CANDIDATES_M.values(), key=lambda unit: abs(np.log(extent * unit / height_m)))


@dataclass(frozen=True, eq=False)
class Motion:
    """T frames of a skeleton's motion.

    Attributes:
        skeleton: the hierarchy (offsets in file units).
        rotations: (T, J, 3, 3) local joint rotations.
        root_translation_m: (T, 3) root position channels, metres, file axes (added to the root offset).
        fps: frames per second.
        unit_m: metres per file unit (``skeleton.offsets * unit_m`` are metres).
    """

    skeleton: Skeleton
    rotations: npt.NDArray[np.float64]
    root_translation_m: npt.NDArray[np.float64]
    fps: float
    unit_m: float

    def __post_init__(self) -> None:
        t = self.rotations.shape[0]
        if self.rotations.shape != (t, len(self.skeleton), 3, 3) or self.root_translation_m.shape != (t, 3):
            raise ValueError(
                f"motion needs rotations (T, {len(self.skeleton)}, 3, 3) and root_translation_m (T, 3), got "
                f"{self.rotations.shape} and {self.root_translation_m.shape}"
            )

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self) / self.fps

    def world_rotations(self) -> npt.NDArray[np.float64]:
        """(T, J, 3, 3) joint rotations relative to the rest pose, in file axes."""
        world = np.empty_like(self.rotations)
        world[:, 0] = self.rotations[:, 0]
        for j in range(1, len(self.skeleton)):
            world[:, j] = world[:, self.skeleton.parents[j]] @ self.rotations[:, j]
        return world

    def joint_positions_m(self) -> npt.NDArray[np.float64]:
        """(T, J, 3) world joint positions in metres, file axes."""
        world = self.world_rotations()
        offsets_m = self.skeleton.offsets * self.unit_m
        positions = np.empty((*self.rotations.shape[:2], 3))
        positions[:, 0] = offsets_m[0] + self.root_translation_m
        for j in range(1, len(self.skeleton)):
            p = self.skeleton.parents[j]
            positions[:, j] = positions[:, p] + world[:, p] @ offsets_m[j]
        return positions

    def resample(self, fps: float) -> Motion:
        """This motion at ``fps``: rotations by normalised quaternion interpolation, translation linearly."""
        if len(self) < 2 or np.isclose(fps, self.fps):
            return dataclasses.replace(self, fps=fps) if len(self) < 2 else self
        times = np.arange(0.0, (len(self) - 1) / self.fps + 1e-9, 1.0 / fps) * self.fps  # source frame coordinates
        i0 = np.minimum(np.floor(times).astype(int), len(self) - 2)
        alpha = (times - i0)[:, None]
        translation = (1 - alpha) * self.root_translation_m[i0] + alpha * self.root_translation_m[i0 + 1]
        q = matrix_to_quaternion(torch.from_numpy(self.rotations)).numpy()  # (T, J, 4)
        q0, q1 = q[i0], q[i0 + 1]
        q1 = q1 * np.where((q0 * q1).sum(-1, keepdims=True) < 0, -1.0, 1.0)  # shortest arc
        qt = (1 - alpha[..., None]) * q0 + alpha[..., None] * q1
        rotations = quaternion_to_matrix(torch.from_numpy(qt)).numpy()
        return dataclasses.replace(self, rotations=rotations, root_translation_m=translation, fps=fps)
