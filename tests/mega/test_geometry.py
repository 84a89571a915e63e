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
