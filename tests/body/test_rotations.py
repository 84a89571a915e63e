from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mocap.body.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
)


def _random_rotations(n: int) -> torch.Tensor:
    return axis_angle_to_matrix(
        torch.randn(n, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5
    )


def test_quarter_turn_about_z_maps_x_to_y() -> None:
    r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    assert torch.allclose(
        r @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12
    )


def test_matrices_are_rotations() -> None:
    r = _random_rotations(100)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(r), torch.ones(100, dtype=torch.float64))


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (matrix_to_axis_angle, axis_angle_to_matrix),
        (matrix_to_quaternion, quaternion_to_matrix),
        (matrix_to_rotation_6d, rotation_6d_to_matrix),
    ],
)
def test_round_trips(forward, inverse) -> None:  # type: ignore[no-untyped-def]
    r = _random_rotations(200).reshape(10, 20, 3, 3)  # any leading batch shape
    assert torch.allclose(inverse(forward(r)), r, atol=1e-10)


def test_axis_angle_of_half_turn_and_identity() -> None:
    half = axis_angle_to_matrix(torch.tensor([[math.pi, 0.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(
        matrix_to_axis_angle(half).abs(), torch.tensor([[math.pi, 0.0, 0.0]], dtype=torch.float64), atol=1e-6
    )
    assert torch.allclose(matrix_to_axis_angle(torch.eye(3)[None]), torch.zeros(1, 3))


def test_small_angles_have_gradients() -> None:
    aa = torch.zeros(2, 3, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert aa.grad is not None and torch.isfinite(aa.grad).all()


def test_6d_is_first_two_rows() -> None:
    r = _random_rotations(5)
    assert torch.equal(matrix_to_rotation_6d(r)[:, :3], r[:, 0]) and torch.equal(
        matrix_to_rotation_6d(r)[:, 3:], r[:, 1]
    )


def _rz(a: float) -> np.ndarray:
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def _rx(a: float) -> np.ndarray:
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def _ry(a: float) -> np.ndarray:
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def test_euler_intrinsic_and_extrinsic_orders() -> None:
    a = (0.3, -0.7, 1.1)
    assert np.allclose(euler_to_matrix(a, "ZXY"), _rz(a[0]) @ _rx(a[1]) @ _ry(a[2]))
    assert np.allclose(euler_to_matrix(a, "XYZ", extrinsic=True), _rz(a[2]) @ _ry(a[1]) @ _rx(a[0]))


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YXZ", "ZYX"])
def test_euler_round_trip(order: str) -> None:
    angles = np.random.default_rng(0).uniform(-1.2, 1.2, (50, 3))
    m = euler_to_matrix(angles, order)
    assert np.allclose(euler_to_matrix(matrix_to_euler(m, order), order), m, atol=1e-12)
