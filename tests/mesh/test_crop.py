from __future__ import annotations

import numpy as np

from mocap.mesh.crop import (
    default_intrinsics,
    from_crop,
    square_crops,
    to_crop,
    translation_to_weak_perspective,
    weak_perspective_to_translation,
)


def test_square_crop_from_visible_landmarks() -> None:
    landmarks = np.zeros((1, 33, 3))
    landmarks[0, :, :2] = [100, 200]
    landmarks[0, :4, :2] = [[100, 100], [140, 100], [100, 300], [140, 300]]  # a 40 x 200 box
    landmarks[0, :, 2] = 1.0
    landmarks[0, 10, :] = [900, 900, 0.1]  # invisible: ignored
    center, size = square_crops(landmarks, np.array([[0, 0, 1000, 1000]]), expand=1.25)
    assert np.allclose(center, [[120, 200]]) and np.allclose(size, [250])


def test_square_crop_falls_back_to_the_box() -> None:
    landmarks = np.zeros((1, 33, 3))  # nothing visible
    center, size = square_crops(landmarks, np.array([[10, 20, 50, 120]]), expand=1.0)
    assert np.allclose(center, [[30, 70]]) and np.allclose(size, [100])


def test_crop_round_trip_and_corners() -> None:
    center, size = np.array([[320.0, 240.0]]), np.array([200.0])
    corners = np.array([[[220.0, 140.0], [420.0, 340.0]]])
    assert np.allclose(to_crop(corners, center, size), [[[-1, -1], [1, 1]]])
    points = np.random.default_rng(0).uniform(0, 640, (1, 33, 2))
    assert np.allclose(from_crop(to_crop(points, center, size), center, size), points)


def test_weak_perspective_matches_pinhole_projection() -> None:
    # A body 4 m away, 0.5 m right of the optical axis; 640x480 camera with f = 640.
    k = default_intrinsics((640, 480))
    f, principal = np.array([k[0, 0]]), k[:2, 2][None]
    translation = np.array([[0.5, -0.2, 4.0]])
    body = np.random.default_rng(1).normal(0, 0.05, (1, 20, 3))  # small: weak perspective is exact as depth range -> 0
    pixels = f * (body[..., :2] + translation[:, None, :2]) / (body[..., 2:] + translation[:, None, 2:]) + principal
    center, size = pixels.mean(axis=1), np.array([150.0])
    camera = translation_to_weak_perspective(translation, center, size, f, principal)
    crop = camera[:, None, :1] * (body[..., :2] + camera[:, None, 1:])
    # Weak perspective ignores depth differences inside the body: ~1 px for a body 0.5 m off-axis.
    assert np.abs(from_crop(crop, center, size) - pixels).max() < 1.5  # px
    assert np.allclose(weak_perspective_to_translation(camera, center, size, f, principal), translation)


def test_default_intrinsics() -> None:
    assert np.allclose(default_intrinsics((640, 480)), [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
