from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from mocap.body.anny_body import AnnyBody, random_phenotypes
from mocap.body.landmarks import LANDMARK_NAMES, SKELETON_EDGES, load_landmark_regressor, regress_landmarks
from mocap.body.rotations import axis_angle_to_matrix


def test_regressor_rows_are_convex_and_sparse() -> None:
    w = load_landmark_regressor()
    assert w.shape == (33, 13718) and len(LANDMARK_NAMES) == 33
    assert np.allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0, atol=1e-5)
    assert w.data.min() >= 0.0
    assert w.nnz < 33 * 500  # a small file, not dense rows


def test_edges_index_landmarks() -> None:
    assert all(0 <= a < 33 and 0 <= b < 33 and a != b for a, b in SKELETON_EDGES)
    assert len(set(SKELETON_EDGES)) == len(SKELETON_EDGES)


def test_landmarks_lie_on_or_in_the_body(body: AnnyBody) -> None:
    g = torch.Generator().manual_seed(0)
    pose = axis_angle_to_matrix(torch.randn(2, len(body.joint_names), 3, generator=g) * 0.2)
    phenotype = torch.from_numpy(random_phenotypes(2, np.random.default_rng(0)))
    with torch.no_grad():
        vertices = body.forward(pose, phenotype).vertices_m
    landmarks = body.landmarks(vertices)
    assert landmarks.shape == (2, 33, 3) and torch.allclose(landmarks, regress_landmarks(vertices))
    surface = [
        i for i, n in enumerate(LANDMARK_NAMES) if "eye" in n or "mouth" in n or n in ("nose", "left_foot_index")
    ]
    for v, lm in zip(vertices.numpy(), landmarks.numpy(), strict=True):
        distance, _ = cKDTree(v).query(lm)
        # Face points and toes are on the skin; joints (hips, knees...) are inside, less deep than 12 cm.
        assert distance[surface].max() < 0.015, dict(zip(LANDMARK_NAMES, distance.round(3), strict=True))
        assert distance.max() < 0.12, dict(zip(LANDMARK_NAMES, distance.round(3), strict=True))
        assert (lm.min(0) >= v.min(0)).all() and (lm.max(0) <= v.max(0)).all()


def test_landmark_layout_on_the_rest_body(body: AnnyBody) -> None:
    with torch.no_grad():
        lm = body.landmarks(body.forward(body.identity_pose(1), torch.full((1, 6), 0.5)).vertices_m)[0]
    at = {name: lm[i] for i, name in enumerate(LANDMARK_NAMES)}
    for name in LANDMARK_NAMES:
        if name.startswith("left_") or name == "mouth_left":
            assert at[name][0] > 0.0, name  # the body's left is +x
    assert at["nose"][2] > at["left_shoulder"][2] > at["left_hip"][2] > at["left_knee"][2] > at["left_ankle"][2]
    assert at["left_hip"][2] > at["left_heel"][2] + 0.6
    assert at["left_foot_index"][1] < at["left_heel"][1]  # toes forward (-y)
