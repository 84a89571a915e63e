"""Anny vertices -> MediaPipe BlazePose's 33 landmarks, as a fixed sparse (33, V) weight matrix.

Each row holds non-negative weights summing to 1, so a landmark is a convex combination of mesh
vertices: it follows the skinned surface under any pose and phenotype, and a rendered Anny body
and MediaPipe's detector mean the same points. Rows come from three sources:

- anny's COCO+feet keypoint regressor (nose, eyes, ears, shoulders, elbows, wrists, knees,
  ankles, heels; foot index = 3/4 big toe + 1/4 small toe, MediaPipe's point near the 2nd toe);
- surface points picked on the neutral rest mesh (eye inner/outer corners, mouth corners), each
  the inverse-distance blend of its 4 nearest vertices;
- interior points (pinky/index knuckles = the MCP joints, thumb = its MCP, the "#2 knuckle";
  hips) written as convex combinations of nearby vertices by non-negative least squares.
  MediaPipe's hips sit higher and wider than anatomical hip joints (and than COCO's hips): we
  place them 4 cm above and 1 cm outside anny's COCO hips.

The matrix is built once by :func:`build_landmark_regressor` (``python -m mocap.body.landmarks``
rewrites ``anny_landmarks.npz`` beside this file) and loaded by :func:`load_landmark_regressor`.

Example:
    >>> W = load_landmark_regressor()
    >>> W.shape
    (33, 13718)
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.sparse
import torch

LANDMARK_FILE: Final = Path(__file__).with_name("anny_landmarks.npz")

LANDMARK_NAMES: Final = (
    "nose",
    "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

# MediaPipe's POSE_CONNECTIONS, for drawing.
SKELETON_EDGES: Final = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip

# Straight from anny's COCO regressor (MediaPipe name -> COCO label).
_COCO_ROWS: Final = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
    "right_ear": "right_ear", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist",
    "right_wrist": "right_wrist", "left_knee": "left_knee", "right_knee": "right_knee",
    "left_ankle": "left_ankle", "right_ankle": "right_ankle", "left_heel": "left_heel", "right_heel": "right_heel",
}  # fmt: skip
# Interior points at anny bone heads (MediaPipe name -> anny default-rig bone).
_BONE_ROWS: Final = {
    "left_pinky": "finger5-1.L", "right_pinky": "finger5-1.R", "left_index": "finger2-1.L",
    "right_index": "finger2-1.R", "left_thumb": "finger1-2.L", "right_thumb": "finger1-2.R",
}  # fmt: skip
_HIP_OFFSET_M: Final = (0.01, 0.0, 0.04)  # (outwards, y, up) from anny's COCO hip
# Surface points relative to the COCO eye / nose keypoint, on the body's left (+x); mirrored for the right.
_EYE_INNER_FROM_EYE_M: Final = (-0.013, 0.002, -0.002)
_EYE_OUTER_FROM_EYE_M: Final = (0.015, 0.011, 0.0)
_MOUTH_FROM_NOSE_M: Final = (0.024, 0.016, -0.043)
_PRUNE_BELOW: Final = 1e-4


def _surface_weights(
    vertices_m: npt.NDArray[np.float64], target_m: npt.NDArray[np.float64], k: int = 4
) -> dict[int, float]:
    """Inverse-distance weights of the k vertices nearest to ``target_m`` (3,)."""
    dist = np.linalg.norm(vertices_m - target_m, axis=1)
    nearest = np.argsort(dist)[:k]
    w = 1.0 / np.maximum(dist[nearest], 1e-4)
    return dict(zip(nearest.tolist(), (w / w.sum()).tolist(), strict=True))


def _interior_weights(
    vertices_m: npt.NDArray[np.float64], target_m: npt.NDArray[np.float64], candidates: npt.NDArray[np.int64]
) -> dict[int, float]:
    """Convex weights over ``candidates`` whose blend equals ``target_m`` (3,) (NNLS, small ridge)."""
    c = vertices_m[candidates]  # (n, 3)
    big, ridge = 100.0, 1e-3  # sum-to-one row weight; ridge spreads the weights over many vertices
    a = np.vstack([c.T, big * np.ones((1, len(c))), ridge * np.eye(len(c))])
    b = np.concatenate([target_m, [big], np.zeros(len(c))])
    w, _ = scipy.optimize.nnls(a, b, maxiter=50 * len(c))
    return dict(zip(candidates.tolist(), (w / w.sum()).tolist(), strict=True))


def _near(
    vertices_m: npt.NDArray[np.float64], target_m: npt.NDArray[np.float64], radius_m: float
) -> npt.NDArray[np.int64]:
    return np.flatnonzero(np.linalg.norm(vertices_m - target_m, axis=1) < radius_m)


def build_landmark_regressor() -> scipy.sparse.csr_matrix:
    """Build the (33, V) regressor on the neutral Anny rest mesh (default rig). Takes a few seconds."""
    import anny

    from mocap.body.anny_body import AnnyBody, neutral_phenotypes

    body = AnnyBody("default")
    with torch.no_grad():
        rest = body.forward(body.identity_pose(1), neutral_phenotypes(1))
    verts = rest.vertices_m[0].double().numpy()
    heads = rest.joints_m[0].double().numpy()
    coco = anny.KeypointsRegressor.coco(body.model)
    coco_w = coco.regression_weights.double().numpy()
    coco_xyz = coco_w @ verts
    coco_row = {label: i for i, label in enumerate(coco.labels)}

    rows: dict[str, dict[int, float]] = {}
    for name, label in _COCO_ROWS.items():
        w = coco_w[coco_row[label]]
        rows[name] = {int(i): float(w[i]) for i in np.flatnonzero(w)}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        mirror = np.array([sign, 1.0, 1.0])
        big, small = coco_w[coco_row[f"{side}_big_toe"]], coco_w[coco_row[f"{side}_small_toe"]]
        foot = 0.75 * big + 0.25 * small
        rows[f"{side}_foot_index"] = {int(i): float(foot[i]) for i in np.flatnonzero(foot)}
        eye = coco_xyz[coco_row[f"{side}_eye"]]
        rows[f"{side}_eye_inner"] = _surface_weights(verts, eye + mirror * _EYE_INNER_FROM_EYE_M)
        rows[f"{side}_eye_outer"] = _surface_weights(verts, eye + mirror * _EYE_OUTER_FROM_EYE_M)
        rows[f"mouth_{side}"] = _surface_weights(verts, coco_xyz[coco_row["nose"]] + mirror * _MOUTH_FROM_NOSE_M)
        for name, bone in _BONE_ROWS.items():
            if name.startswith(side):
                head = heads[body.joint_index(bone)]
                rows[name] = _interior_weights(verts, head, _near(verts, head, 0.02))
        hip = coco_xyz[coco_row[f"{side}_hip"]] + mirror * _HIP_OFFSET_M
        candidates = _near(verts, hip, 0.14)
        candidates = candidates[verts[candidates, 0] * sign > 0.01]  # this side only
        rows[f"{side}_hip"] = _interior_weights(verts, hip, candidates)

    matrix = np.zeros((len(LANDMARK_NAMES), len(verts)))
    for r, name in enumerate(LANDMARK_NAMES):
        for v, w in rows[name].items():
            matrix[r, v] = w
    matrix[matrix < _PRUNE_BELOW] = 0.0
    matrix /= matrix.sum(axis=1, keepdims=True)
    return scipy.sparse.csr_matrix(matrix)


def save_landmark_regressor(matrix: scipy.sparse.csr_matrix, path: Path = LANDMARK_FILE) -> None:
    np.savez_compressed(
        path,
        data=matrix.data.astype(np.float32),
        indices=matrix.indices.astype(np.int32),
        indptr=matrix.indptr.astype(np.int32),
        shape=np.asarray(matrix.shape),
        names=np.asarray(LANDMARK_NAMES),
    )


@functools.lru_cache(maxsize=1)
def load_landmark_regressor(path: Path = LANDMARK_FILE) -> scipy.sparse.csr_matrix:
    """The (33, V) sparse regressor shipped with the package; rows in :data:`LANDMARK_NAMES` order."""
    with np.load(path) as f:
        if tuple(f["names"].tolist()) != LANDMARK_NAMES:
            raise ValueError(f"{path} lists other landmarks; rebuild it with `python -m mocap.body.landmarks`")
        return scipy.sparse.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))


@functools.lru_cache(maxsize=8)
def _sparse_regressor(device: str, dtype: torch.dtype) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the matmul we use is stable
        warnings.simplefilter("ignore", UserWarning)
        regressor = load_landmark_regressor()
        return torch.sparse_csr_tensor(
            torch.from_numpy(regressor.indptr.astype(np.int64)),
            torch.from_numpy(regressor.indices.astype(np.int64)),
            torch.from_numpy(regressor.data),
            regressor.shape,
        ).to(device, dtype)


def regress_landmarks(vertices_m: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) Anny (default topology) vertices -> (B, 33, 3) landmarks, same frame and units (differentiable)."""
    b, v, _ = vertices_m.shape
    # One sparse, vertex-major product (33, V) @ (V, B*3): a landmark reads a few dozen vertices, and a dense
    # (batched) matmul with 3 columns cost ~0.7 ms per mesh.
    flat = vertices_m.transpose(0, 1).reshape(v, b * 3)
    return (
        torch.sparse.mm(_sparse_regressor(str(vertices_m.device), vertices_m.dtype), flat)
        .view(-1, b, 3)
        .transpose(0, 1)
    )


if __name__ == "__main__":
    save_landmark_regressor(build_landmark_regressor())
