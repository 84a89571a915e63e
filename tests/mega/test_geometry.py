from __future__ import annotations

import math

import pytest
import torch

from mocap.mega.geometry import (
    axis_angle_to_matrix,
    geodesic_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
    weak_perspective_project,
)


def test_quarter_turn_about_z_maps_x_to_y() -> None:
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    assert torch.allclose(R[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(axis_angle_to_matrix(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))


def test_6d_round_trip_and_orthonormalisation() -> None:
    R = axis_angle_to_matrix(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R, atol=1e-5)
    M = rotation_6d_to_matrix(torch.randn(8, 6))
    assert torch.allclose(M @ M.transpose(1, 2), torch.eye(3).expand(8, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(M), torch.ones(8), atol=1e-5)
    # rows: the first row of the result is the normalised first 3 numbers
    assert torch.allclose(rotation_6d_to_matrix(torch.tensor([2.0, 0, 0, 1, 1, 0]))[0], torch.tensor([1.0, 0, 0]))


def test_weak_perspective_by_hand() -> None:
    points = torch.tensor([[[0.5, -1.0, 3.0], [0.0, 0.0, 7.0]]])
    camera = torch.tensor([[2.0, 0.1, 0.2]])  # s (t + X): 2 * (0.6, -0.8), 2 * (0.1, 0.2)
    assert torch.allclose(weak_perspective_project(points, camera), torch.tensor([[[1.2, -1.6], [0.2, 0.4]]]))


def test_geodesic_angle() -> None:
    R = axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0]]))
    assert geodesic_angle(torch.eye(3)[None], R).item() == pytest.approx(0.3, abs=1e-5)
