from __future__ import annotations

import numpy as np
import pytest
import torch

from mocap.body.anny_body import AnnyBody, neutral_phenotypes
from mocap.body.landmarks import LANDMARK_NAMES, regress_landmarks
from mocap.body.rotations import axis_angle_to_matrix
from mocap.body.symmetry import LANDMARK_MIRROR, build_vertex_mirror, load_vertex_mirror
from mocap.mesh.mirror import mirror_landmarks, mirror_vertices


def test_landmark_mirror_swaps_left_and_right() -> None:
    names = [LANDMARK_NAMES[i] for i in LANDMARK_MIRROR]
    assert names[0] == "nose" and names[11] == "right_shoulder" and names[12] == "left_shoulder"
    assert names[9] == "mouth_right" and names[32] == "left_foot_index"
    np.testing.assert_array_equal(LANDMARK_MIRROR[LANDMARK_MIRROR], np.arange(33))


def test_shipped_vertex_mirror_is_the_template_symmetry(body: AnnyBody) -> None:
    shipped = load_vertex_mirror()
    np.testing.assert_array_equal(build_vertex_mirror(body.model.template_vertices.cpu().numpy()), shipped)
    np.testing.assert_array_equal(shipped[shipped], np.arange(body.num_vertices))
    template = body.model.template_vertices.cpu().numpy()
    left = template[:, 0] > 0.05
    assert np.all(template[shipped[left], 0] < -0.05), "a left vertex's mirror is on the right"


def test_an_asymmetric_template_is_refused(body: AnnyBody) -> None:
    template = body.model.template_vertices.cpu().numpy().copy()
    template[np.argmax(template[:, 0]), 0] += 0.01
    with pytest.raises(ValueError, match="not left-right symmetric"):
        build_vertex_mirror(template)


def test_the_landmarks_of_a_mirrored_body_are_the_mirrored_landmarks(body: AnnyBody) -> None:
    """Regressor, vertex table and landmark table agree: mirroring a posed mesh mirrors its 33 landmarks."""
    torch.manual_seed(0)
    pose = axis_angle_to_matrix(0.3 * torch.randn(2, len(body.joint_names), 3))  # asymmetric random poses
    vertices = body(pose, neutral_phenotypes(2)).vertices_m  # (2, V, 3) Anny frame, x = the body's left
    mirror = torch.from_numpy(load_vertex_mirror())
    mirrored = regress_landmarks(mirror_vertices(vertices, mirror)).numpy()
    expected = mirror_landmarks(regress_landmarks(vertices).numpy())
    assert np.abs(mirrored - expected).max() < 1e-5  # metres: the regressor is exactly symmetric
