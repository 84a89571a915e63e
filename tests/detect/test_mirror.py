"""The mirrored view (``mocap.detect.mirror``): the flips, the pairing, and real MediaPipe on a flipped photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocap.body.symmetry import LANDMARK_MIRROR, mirror_landmarks
from mocap.detect.mirror import (
    flip_boxes_px,
    flip_frame,
    flip_landmarks_px,
    unflip,
    with_mirror_view,
)
from mocap.detect.pose import DetectConfig, PoseDetector
from mocap.types import Detections, Frame, MirrorView

skimage_data = pytest.importorskip("skimage.data")

NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 11, 12


def people(boxes: list[tuple[float, float, float, float]], seed: int = 0) -> Detections:
    """Detections with the given boxes and random landmarks inside them."""
    rng = np.random.default_rng(seed)
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    u = rng.uniform(0, 1, (len(xyxy), 33, 2))
    xy = xyxy[:, None, :2] + u * (xyxy[:, None, 2:] - xyxy[:, None, :2])
    landmarks_px = np.concatenate([xy, rng.uniform(0, 1, (len(xyxy), 33, 1))], -1).astype(np.float32)
    world = rng.normal(0, 0.3, (len(xyxy), 33, 3)).astype(np.float32)
    return Detections(xyxy, rng.uniform(0.5, 1, len(xyxy)).astype(np.float32), landmarks_px, world)


def test_every_flip_is_its_own_inverse() -> None:
    found = people([(10, 20, 110, 300), (300, 40, 420, 400)])
    twice = unflip(unflip(found, 640), 640)
    for name in ("xyxy_px", "score", "landmarks_px", "landmarks_world_m"):
        np.testing.assert_allclose(getattr(twice, name), getattr(found, name), atol=1e-4)
    np.testing.assert_array_equal(flip_boxes_px(flip_boxes_px(found.xyxy_px, 640), 640), found.xyxy_px)
    flipped = flip_landmarks_px(found.landmarks_px, 640)
    # The flipped right shoulder is the left one seen in the mirror: same height, x about the centre line.
    np.testing.assert_allclose(flipped[:, RIGHT_SHOULDER, 0], 640 - found.landmarks_px[:, LEFT_SHOULDER, 0])
    np.testing.assert_array_equal(flipped[:, RIGHT_SHOULDER, 1:], found.landmarks_px[:, LEFT_SHOULDER, 1:])
    np.testing.assert_array_equal(
        mirror_landmarks(found.landmarks_world_m)[:, LANDMARK_MIRROR, 1:], found.landmarks_world_m[..., 1:]
    )
    box = flip_boxes_px(found.xyxy_px, 640)
    assert np.all(box[:, 0] < box[:, 2]), "a flipped box is still (x0, y0, x1, y1)"


def test_flip_frame_reverses_the_columns_only() -> None:
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    frame = Frame(index=7, time_s=0.25, image_rgb=image)
    flipped = flip_frame(frame)
    assert (flipped.index, flipped.time_s) == (7, 0.25)
    np.testing.assert_array_equal(flipped.image_rgb[:, 0], image[:, 5])
    assert flipped.image_rgb.flags.c_contiguous


def test_pairing_follows_the_boxes_and_leaves_strangers_out() -> None:
    direct = people([(10, 20, 110, 300), (300, 40, 420, 400), (500, 10, 600, 200)], seed=1)
    # The mirrored frame found the first two people (in the other order, a little off) and someone else.
    mirrored = people([(305, 45, 425, 395), (12, 18, 108, 305), (150, 300, 250, 470)], seed=2)
    paired = with_mirror_view(direct, mirrored)
    assert paired.mirror is not None and len(paired.mirror) == 3
    np.testing.assert_array_equal(paired.mirror.landmarks_px[0], mirrored.landmarks_px[1])
    np.testing.assert_array_equal(paired.mirror.landmarks_world_m[1], mirrored.landmarks_world_m[0])
    np.testing.assert_array_equal(paired.mirror.found, [True, True, False])
    assert np.isnan(paired.mirror.landmarks_px[2]).all() and np.isnan(paired.mirror.landmarks_world_m[2]).all()
    # The direct detections are untouched, and indexing keeps the views row by row.
    assert paired[[2, 0]].mirror == paired.mirror[[2, 0]]
    np.testing.assert_array_equal(paired.landmarks_px, direct.landmarks_px)
    nobody = with_mirror_view(direct, Detections.empty())
    assert nobody.mirror is not None and not nobody.mirror.found.any()
    assert with_mirror_view(Detections.empty(), mirrored).mirror == MirrorView(
        np.zeros((0, 33, 3), np.float32), np.zeros((0, 33, 3), np.float32)
    )


def test_a_mirror_view_of_the_wrong_length_is_refused() -> None:
    found = people([(10, 20, 110, 300)])
    with pytest.raises(ValueError, match="mirror must have 1 rows"):
        Detections(
            found.xyxy_px,
            found.score,
            found.landmarks_px,
            found.landmarks_world_m,
            MirrorView(np.zeros((2, 33, 3), np.float32), np.zeros((2, 33, 3), np.float32)),
        )


def test_mediapipe_sees_the_same_person_in_the_flipped_photo(bundle_path: Path) -> None:
    """Real MediaPipe: the flipped photo's landmarks, mapped back, land on the same body parts, labelled alike."""
    image = skimage_data.astronaut()  # (512, 512, 3): a real person, head and torso
    config = DetectConfig(max_people=1, mirror_view=True)
    with PoseDetector(config, bundle_path=bundle_path) as detector:
        found = detector.detect(Frame(index=0, time_s=0.0, image_rgb=image))
    assert len(found) == 1 and found.mirror is not None and found.mirror.found.all()
    direct, twin = found.landmarks_px[0], found.mirror.landmarks_px[0]
    assert np.linalg.norm(direct[NOSE, :2] - twin[NOSE, :2]) < 15  # px, on a 512 px photo
    for side in (LEFT_SHOULDER, RIGHT_SHOULDER):  # the left shoulder is still the left one
        assert np.linalg.norm(direct[side, :2] - twin[side, :2]) < 30
    assert direct[LEFT_SHOULDER, 0] > direct[RIGHT_SHOULDER, 0] and twin[LEFT_SHOULDER, 0] > twin[RIGHT_SHOULDER, 0]
    world_gap_m = np.linalg.norm(found.landmarks_world_m[0] - found.mirror.landmarks_world_m[0], axis=-1)
    assert np.median(world_gap_m) < 0.1
    assert not np.array_equal(direct, twin), "a second measurement, not a copy"
