"""How much each Anny vertex follows each of the 12 BlazePose body joints: smooth weights for moving a mesh by
its joints (``mocap.mesh.fusion``).

Weight of joint j at vertex v: a Gaussian of their distance on the rest template (width ``sigma_m``), normalised
over the joints, so every row sums to 1 (a displacement shared by all joints moves the mesh rigidly) and a vertex
follows the joints nearest to it at rest: a hand its wrist, a thigh its hip and knee. Rest distances, not posed
ones, so a hand resting on a hip keeps following the wrist. The table is built once from the installed anny by
:func:`build_joint_weights` (``python -m mocap.body.joint_weights`` rewrites ``anny_joint_weights.npz`` beside
this file, as ``anny_mirror.npz`` is built) and loaded by :func:`load_joint_weights`, so the pipeline does not
load anny.

Example:
    >>> weights = load_joint_weights()
    >>> weights.shape, bool(np.allclose(weights.sum(1), 1, atol=1e-2))
    ((13718, 12), True)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from mocap.body.landmarks import load_landmark_regressor

JOINT_WEIGHTS_FILE: Final = Path(__file__).with_name("anny_joint_weights.npz")
# The 12 body joints (shoulders, elbows, wrists, hips, knees, ankles) as BlazePose landmark indices; the joints the
# benchmarks score (mocap.mega.evaluate.BODY_12).
BODY_JOINTS: Final = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
SIGMA_M: Final = 0.1


def build_joint_weights(template_m: npt.NDArray[np.floating], sigma_m: float = SIGMA_M) -> npt.NDArray[np.float32]:
    """(V, 3) rest template, metres -> (V, 12) non-negative weights over :data:`BODY_JOINTS`, rows summing to 1."""
    template = np.asarray(template_m, dtype=np.float64)
    joints = load_landmark_regressor()[list(BODY_JOINTS)] @ template  # (12, 3) at rest
    d2 = ((template[:, None] - joints[None]) ** 2).sum(-1)  # (V, 12) squared distances
    # Shifted by each row's nearest joint before exp, so far-off vertices do not underflow to an all-zero row.
    weights = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * sigma_m**2))
    return (weights / weights.sum(1, keepdims=True)).astype(np.float32)


def save_joint_weights(weights: npt.NDArray[np.float32], path: Path = JOINT_WEIGHTS_FILE) -> None:
    np.savez_compressed(path, weights=weights.astype(np.float16), joints=np.asarray(BODY_JOINTS))


@functools.lru_cache(maxsize=1)
def load_joint_weights(path: Path = JOINT_WEIGHTS_FILE) -> npt.NDArray[np.float32]:
    """The (V, 12) table shipped with the package (V = 13 718; float16 on disk, rows renormalised on load)."""
    with np.load(path) as f:
        if tuple(f["joints"].tolist()) != BODY_JOINTS:
            raise ValueError(f"{path} weights other joints; rebuild it with `python -m mocap.body.joint_weights`")
        weights = f["weights"].astype(np.float32)
    return weights / weights.sum(1, keepdims=True)


if __name__ == "__main__":
    from mocap.body.anny_body import load_anny

    save_joint_weights(build_joint_weights(load_anny("default").template_vertices.cpu().numpy()))
