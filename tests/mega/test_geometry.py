from __future__ import annotations

import pytest
import torch

from mocap.body.rotations import axis_angle_to_matrix, matrix_to_rotation_6d, rotation_6d_to_matrix
from mocap.mega.geometry import (
    geodesic_angle,
    turn_landmark_features,
    turn_rotation_camera,
    upright_angle,
    view_axis_rotation,
    weak_perspective_project,
)


def test_weak_perspective_by_hand() -> None:
    points = torch.tensor([[[0.5, -1.0, 3.0], [0.0, 0.0, 7.0]]])
    camera = torch.tensor([[2.0, 0.1, 0.2]])  # s (t + X): 2 * (0.6, -0.8), 2 * (0.1, 0.2); depth ignored
    assert torch.allclose(weak_perspective_project(points, camera), torch.tensor([[[1.2, -1.6], [0.2, 0.4]]]))


def test_geodesic_angle() -> None:
    R = axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0]]))
    assert geodesic_angle(torch.eye(3)[None], R).item() == pytest.approx(0.3, abs=1e-5)
    assert geodesic_angle(R, R).item() == pytest.approx(0.0, abs=1e-3)


def test_crop_camera_matches_the_pinhole_for_a_distant_body() -> None:
    from mocap.mega.geometry import crop_camera_to_translation

    # A flat body (depth 0 around its centre) seen through a crop: both models must put it on the same pixels.
    points = torch.tensor([[[0.3, -0.8, 0.0], [-0.2, 0.7, 0.0], [0.0, 0.0, 0.0]]])  # (1, 3, 3) m
    camera = torch.tensor([[1.1, 0.05, -0.1]])
    center, size = torch.tensor([[700.0, 300.0]]), torch.tensor([250.0])
    focal, principal = torch.tensor([1000.0]), torch.tensor([[640.0, 360.0]])
    crop = weak_perspective_project(points, camera)  # (1, 3, 2) in [-1, 1] crop units
    pixels_weak = center[:, None] + crop * size[:, None, None] / 2
    T = crop_camera_to_translation(camera, center, size, focal, principal)
    cam = points + T[:, None]
    pixels_pinhole = principal[:, None] + focal[:, None, None] * cam[..., :2] / cam[..., 2:]
    assert torch.allclose(pixels_weak, pixels_pinhole, atol=1e-3)
    assert T[0, 2].item() == pytest.approx(2 * 1000 / (1.1 * 250))


def test_upright_angle_reads_the_torso_turn() -> None:
    landmarks = torch.zeros(4, 33, 3)
    up = torch.tensor([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])  # hips -> shoulders, y down
    landmarks[:, [11, 12], :2] = 0.4 * up[:, None]
    expected = torch.tensor([0.0, torch.pi / 2, torch.pi, -torch.pi / 4])
    assert torch.allclose(upright_angle(landmarks).abs(), expected.abs(), atol=1e-6)  # +-pi both mean upside down
    assert upright_angle(landmarks)[3] < 0
    landmarks[0, [11, 12, 23, 24]] = float("nan")
    assert upright_angle(landmarks)[0] == 0.0  # no torso: no turn


def test_turning_back_matches_the_turned_projection() -> None:
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(2, 5, 3, generator=generator)
    R = axis_angle_to_matrix(torch.randn(2, 3, generator=generator))
    camera = torch.tensor([[1.3, 0.1, -0.2], [0.8, -0.3, 0.05]])
    turn = view_axis_rotation(torch.tensor([0.7, -2.5]))
    seen = weak_perspective_project(points @ R.transpose(1, 2), camera)  # (2, 5, 2) in the first view
    features = torch.cat([seen, torch.ones(2, 5, 1), points], dim=-1)  # (2, 5, 6)
    turned_seen = turn_landmark_features(features, turn)[..., :2]
    rotation_6d, turned_camera = turn_rotation_camera(matrix_to_rotation_6d(R), camera, turn)
    again = weak_perspective_project(points @ rotation_6d_to_matrix(rotation_6d).transpose(1, 2), turned_camera)
    assert torch.allclose(turned_seen, again, atol=1e-5)  # the turned view is the view of the turned body
    assert torch.allclose(turned_camera[:, 0], camera[:, 0])  # a turn about the viewing axis keeps the scale


def test_view_axis_rotation_is_the_axis_angle_turn_about_z() -> None:
    angle = torch.tensor([0.0, 0.7, -2.5, 3.1])
    expected = axis_angle_to_matrix(angle[:, None] * torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(view_axis_rotation(angle), expected)
