"""Real MediaPipe on a real photo of a person (scikit-image's astronaut, public domain)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap.detect.pose import (
    DetectConfig,
    PoseDetector,
    _Timestamps,
    distinct_people,
    landmark_boxes_px,
    presence_score,
)
from mocap.errors import ConfigError
from mocap.types import Detections, Frame

skimage_data = pytest.importorskip("skimage.data")

NOSE, LEFT_HIP, RIGHT_HIP = 0, 23, 24


@pytest.fixture
def detector(bundle_path: Path) -> Iterator[PoseDetector]:
    with PoseDetector(DetectConfig(max_people=4), bundle_path=bundle_path) as detector:
        yield detector


def two_people() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 640x480 grey canvas with two astronaut crops side by side, and where each was pasted (x0, y0, x1, y1)."""
    person = cv2.resize(skimage_data.astronaut()[0:460, 40:440], (180, 216), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    places = [(40, 132, 220, 348), (420, 132, 600, 348)]
    for x0, y0, x1, y1 in places:
        canvas[y0:y1, x0:x1] = person
    return canvas, places


def test_astronaut_is_found(detector: PoseDetector) -> None:
    image = skimage_data.astronaut()  # (512, 512, 3): a real person, head and torso
    found = detector.detect(Frame(index=0, time_s=0.0, image_rgb=image))
    assert len(found) == 1
    assert found.xyxy_px.dtype == found.landmarks_px.dtype == found.landmarks_world_m.dtype == np.float32
    x0, y0, x1, y1 = found.xyxy_px[0]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert x1 - x0 > 150 and y1 - y0 > 200, "the box covers the torso, not only the face"
    nose_x, nose_y, nose_visibility = found.landmarks_px[0, NOSE]
    assert 150 < nose_x < 300 and 60 < nose_y < 200 and nose_visibility > 0.9  # her face is at ~(225, 130)
    assert x0 < nose_x < x1 and y0 < nose_y < y1
    assert 0.5 < found.score[0] <= 1.0
    # world landmarks are metres around the hips: a head lies within a metre of them
    hips_m = found.landmarks_world_m[0, [LEFT_HIP, RIGHT_HIP]].mean(axis=0)
    assert np.abs(hips_m).max() < 0.1 and 0.2 < np.linalg.norm(found.landmarks_world_m[0, NOSE] - hips_m) < 1.0


def test_two_people_side_by_side(bundle_path: Path) -> None:
    canvas, places = two_people()
    # With two people in view MediaPipe's pose detector scores them near 0.5 and, at the default
    # thresholds, now and then keeps only one (measured on this scene with small shifts: 1 in 11);
    # 0.3 finds both at every shift tried.
    config = DetectConfig(max_people=4, min_detection_confidence=0.3, min_presence_confidence=0.3)
    with PoseDetector(config, bundle_path=bundle_path) as detector:
        found = detector.detect(Frame(index=0, time_s=0.0, image_rgb=canvas))
    assert len(found) == 2
    order = np.argsort(found.xyxy_px[:, 0])
    for box, (px0, py0, px1, py1) in zip(found.xyxy_px[order], places, strict=True):
        x0, y0, x1, y1 = box
        centre_x = (x0 + x1) / 2
        assert px0 < centre_x < px1, "each box is centred on its own pasted person"
        slack = 0.15 * (px1 - px0)  # the 10 % box margin may reach a little past the pasted photo
        assert px0 - slack <= x0 and x1 <= px1 + slack and py0 - slack <= y0
        # the photo ends at her waist; MediaPipe extends the body (hips) below it, inside the image
        assert py1 - 50 < y1 <= canvas.shape[0]
        assert (x1 - x0) * (y1 - y0) > 0.25 * (px1 - px0) * (py1 - py0)


def test_video_mode_follows_a_moving_person(detector: PoseDetector) -> None:
    person = cv2.resize(skimage_data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
    centres_x = []
    for i, x in enumerate(range(20, 301, 40)):  # 8 frames, 40 px steps
        canvas = np.full((480, 640, 3), 90, np.uint8)
        canvas[160:, x : x + 320] = person
        found = detector.detect(Frame(index=i, time_s=i / 30, image_rgb=canvas))
        assert len(found) == 1
        centres_x.append(float(found.xyxy_px[0, [0, 2]].mean()) - x)  # relative to the pasted photo
    # the box moves with her: its centre stays at the same place on the photo
    assert np.ptp(centres_x) < 20 and 100 < np.mean(centres_x) < 220


def test_max_people_caps_the_count(bundle_path: Path) -> None:
    canvas, _ = two_people()
    config = DetectConfig(max_people=1, min_detection_confidence=0.3, min_presence_confidence=0.3)
    with PoseDetector(config, bundle_path=bundle_path) as detector:
        assert len(detector.detect(Frame(index=0, time_s=0.0, image_rgb=canvas))) == 1


def test_nobody_in_a_uniform_frame(detector: PoseDetector) -> None:
    found = detector.detect(Frame(index=0, time_s=0.0, image_rgb=np.full((480, 640, 3), 90, np.uint8)))
    assert found == Detections.empty()


def test_repeated_and_decreasing_times_do_not_crash(detector: PoseDetector) -> None:
    image = skimage_data.astronaut()
    counts = [len(detector.detect(Frame(index=i, time_s=t, image_rgb=image))) for i, t in enumerate([1.0, 1.0, 0.5])]
    assert counts == [1, 1, 1]


def test_timestamps_strictly_increase() -> None:
    stamp = _Timestamps()
    assert [stamp(t) for t in [0.0, 0.0333, 0.0333, 0.01, 5.0, 5.0004]] == [0, 33, 34, 35, 5000, 5001]


def test_detect_after_close_raises(bundle_path: Path) -> None:
    detector = PoseDetector(bundle_path=bundle_path)
    detector.close()
    detector.close()
    with pytest.raises(RuntimeError, match="close"):
        detector.detect(Frame(index=0, time_s=0.0, image_rgb=np.zeros((8, 8, 3), np.uint8)))


def test_landmark_boxes_use_visible_points_margin_and_clip() -> None:
    landmarks_px = np.zeros((3, 33, 3), np.float32)
    # person 0: visible points span x 100..200, y 50..250; a hidden point far away is ignored
    landmarks_px[0, :, :] = (150, 150, 0.9)
    landmarks_px[0, 0] = (100, 50, 0.9)
    landmarks_px[0, 1] = (200, 250, 0.9)
    landmarks_px[0, 2] = (600, 600, 0.1)
    # person 1: near the right/bottom edge, the margin is clipped to the 320x240 image (person 0's bottom too)
    landmarks_px[1, :, :] = (310, 230, 0.9)
    landmarks_px[1, 0] = (250, 200, 0.9)
    # person 2: nothing visible: the box spans all points
    landmarks_px[2, :, :] = (20, 30, 0.2)
    landmarks_px[2, 0] = (10, 10, 0.2)
    boxes = landmark_boxes_px(landmarks_px, (320, 240), margin=0.1)
    np.testing.assert_allclose(boxes[0], [90, 30, 210, 240])
    np.testing.assert_allclose(boxes[1], [244, 197, 316, 233])
    np.testing.assert_allclose(boxes[2], [9, 8, 21, 32])
    np.testing.assert_allclose(landmark_boxes_px(landmarks_px, (400, 300), margin=0.1)[0], [90, 30, 210, 270])
    np.testing.assert_allclose(landmark_boxes_px(landmarks_px, (400, 300), margin=0.0)[0], [100, 50, 200, 250])


def test_presence_score_ignores_landmarks_outside_the_image() -> None:
    xy_norm = np.full((2, 33, 2), 0.5, np.float32)
    xy_norm[0, 20:] = (0.5, 1.4)  # legs below the frame
    xy_norm[1] = 1.5  # everything outside: fall back to all
    presence = np.full((2, 33), 0.9, np.float32)
    presence[0, 20:] = 0.0
    presence[1, :11] = 0.0
    np.testing.assert_allclose(presence_score(xy_norm, presence), [0.9, 0.9 * 22 / 33], rtol=1e-6)


def test_distinct_people_drops_the_weaker_of_two_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10], [0, 0, 10, 10]], np.float32)
    score = np.array([0.6, 0.9, 0.5, 0.9], np.float32)
    # IoU(row 1, rows 0 and 3) = 90 / 110 = 0.82; IoU(row 0, row 3) = 1
    # 0.7: row 1 wins (best score, first of the 0.9 tie) and suppresses rows 0 and 3
    assert distinct_people(boxes, score, max_iou=0.7).tolist() == [1, 2]
    # 0.9: rows 1 and 3 both stay; row 0 duplicates row 3 exactly
    assert distinct_people(boxes, score, max_iou=0.9).tolist() == [1, 2, 3]
    assert distinct_people(boxes, score, max_iou=1.0).tolist() == [0, 1, 2, 3]
    assert distinct_people(boxes[:0], score[:0], max_iou=0.7).tolist() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_people": 0},
        {"min_detection_confidence": 1.5},
        {"min_tracking_confidence": -0.1},
        {"box_margin": -1},
        {"max_box_iou": 0},
    ],
)
def test_invalid_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        DetectConfig(**kwargs)  # type: ignore[arg-type]


def test_native_stderr_is_quiet_during_the_block_and_restored_after(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mocap.detect.pose import NATIVE_LOGS_ENV, quiet_native_stderr

    monkeypatch.delenv(NATIVE_LOGS_ENV, raising=False)
    with quiet_native_stderr():
        os.write(2, b"absl chatter\n")
    os.write(2, b"after\n")
    monkeypatch.setenv(NATIVE_LOGS_ENV, "1")
    with quiet_native_stderr():
        os.write(2, b"kept on request\n")
    assert capfd.readouterr().err == "after\nkept on request\n"
