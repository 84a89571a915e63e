"""The clothes descriptor: mean colours of torso, thighs and shins between the detector's landmarks."""

from __future__ import annotations

import numpy as np
from track_scenes import Person, box_at, detections, painted

from mocap.track.appearance import DIM, appearance, appearance_distance


def test_a_painted_person_is_described_by_their_shirt_and_trousers() -> None:
    person = Person(box_at(400, 500, 300), shirt=(200, 60, 60), trousers=(40, 40, 160))
    described = appearance(painted([person]), detections([person]).landmarks_px)
    assert described.shape == (1, DIM)
    np.testing.assert_allclose(described[0, :3], np.array([200, 60, 60]) / 255, atol=1e-6)  # torso
    np.testing.assert_allclose(described[0, 3:], np.tile([40, 40, 160], 2) / 255, atol=1e-6)  # thighs, shins


def test_regions_the_detector_did_not_see_are_unknown() -> None:
    person = Person(box_at(400, 500, 300))
    landmarks = detections([person]).landmarks_px.copy()
    landmarks[0, [25, 26], 2] = 0.1  # knees hidden: neither thighs nor shins can be drawn
    described = appearance(painted([person]), landmarks)[0]
    assert np.isfinite(described[:3]).all() and np.isnan(described[3:]).all()
    outside = detections([Person(box_at(5000, 500, 300))]).landmarks_px  # off the image
    assert np.isnan(appearance(painted([]), outside)).all()
    assert appearance(painted([]), np.zeros((0, 33, 3))).shape == (0, DIM)


def test_distance_compares_only_the_regions_both_show() -> None:
    a = np.array([[0.8, 0.2, 0.2, 0.1, 0.1, 0.6, 0.1, 0.1, 0.6]])
    b = a.copy()
    b[0, 6:] = np.nan  # shins unseen
    c = a.copy()
    c[0, :3] = [0.2, 0.8, 0.2]  # another shirt
    distance = appearance_distance(np.concatenate([a, b]), np.concatenate([a, b, c]))
    np.testing.assert_allclose(distance[:, :2], 0.0, atol=1e-12)  # b's missing shins cost nothing
    np.testing.assert_allclose(distance[0, 2], np.sqrt((0.36 + 0.36) / 3 / 3), atol=1e-12)
    np.testing.assert_allclose(distance, appearance_distance(np.concatenate([a, b, c]), np.concatenate([a, b])).T)
    torso_only = np.full((1, DIM), np.nan)
    torso_only[0, :3] = a[0, :3]
    assert appearance_distance(torso_only, a)[0, 0] == np.inf  # one region alone is too little to go on
    assert appearance_distance(np.full((1, DIM), np.nan), a)[0, 0] == np.inf
