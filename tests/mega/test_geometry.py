from __future__ import annotations

import pytest
import torch

from mocap.body.rotations import axis_angle_to_matrix
from mocap.mega.geometry import geodesic_angle, weak_perspective_project


def test_weak_perspective_by_hand() -> None:
    points = torch.tensor([[[0.5, -1.0, 3.0], [0.0, 0.0, 7.0]]])
    camera = torch.tensor([[2.0, 0.1, 0.2]])  # s (t + X): 2 * (0.6, -0.8), 2 * (0.1, 0.2); depth ignored
    assert torch.allclose(weak_perspective_project(points, camera), torch.tensor([[[1.2, -1.6], [0.2, 0.4]]]))


def test_geodesic_angle() -> None:
    R = axis_angle_to_matrix(torch.tensor([[0.3, 0.0, 0.0]]))
    assert geodesic_angle(torch.eye(3)[None], R).item() == pytest.approx(0.3, abs=1e-5)
    assert geodesic_angle(R, R).item() == pytest.approx(0.0, abs=1e-3)
