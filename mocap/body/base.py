"""The body-model protocol every body (Anny, SMPL-H) implements, and its output type.

Pose convention shared by all bodies: ``pose_rotmat (B, J, 3, 3)`` local rotations, one per
bone in ``joint_names`` order, index 0 being the root (global orientation); ``transl_m (B, 3)``
the world position of the root joint in metres. Phenotype/shape is a (B, S) float array whose
meaning each body documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import torch


@dataclass(frozen=True, eq=False)
class BodyParams:
    """Parameters of a batch of posed bodies.

    Attributes:
        pose_rotmat: (B, J, 3, 3) local bone rotations; index 0 is the global orientation.
        transl_m: (B, 3) world position of the root joint, metres.
        phenotype: (B, S) shape parameters (Anny: see ``mocap.body.anny_body.PHENOTYPE_LABELS``).
    """

    pose_rotmat: torch.Tensor
    transl_m: torch.Tensor
    phenotype: torch.Tensor

    def __len__(self) -> int:
        return int(self.pose_rotmat.shape[0])


@dataclass(frozen=True, eq=False)
class BodyOutput:
    """A batch of posed bodies.

    Attributes:
        vertices_m: (B, V, 3) posed vertices, metres, world frame.
        joints_m: (B, J, 3) joint (bone head) positions, metres, world frame.
        bone_poses: (B, J, 4, 4) world pose of each bone (rotation and head position).
    """

    vertices_m: torch.Tensor
    joints_m: torch.Tensor
    bone_poses: torch.Tensor


@runtime_checkable
class BodyModel(Protocol):
    """A parametric body: pose + shape -> mesh, plus the landmarks the detector sees."""

    @property
    def num_vertices(self) -> int: ...

    @property
    def faces(self) -> npt.NDArray[np.int64]:
        """(F, 3) triangle vertex indices."""
        ...

    @property
    def joint_names(self) -> tuple[str, ...]: ...

    @property
    def parents(self) -> npt.NDArray[np.int64]:
        """(J,) parent index per joint, -1 for the root."""
        ...

    def forward(
        self, pose_rotmat: torch.Tensor, phenotype: torch.Tensor, transl_m: torch.Tensor | None = None
    ) -> BodyOutput: ...

    def landmarks(self, vertices_m: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) vertices -> (B, 33, 3) MediaPipe BlazePose landmarks, same frame and units."""
        ...

    def fit(self, vertices_m: torch.Tensor, init: BodyParams | None = None) -> BodyParams:
        """(B, V, 3) target meshes -> the parameters that reproduce them (warm-started from ``init``)."""
        ...
