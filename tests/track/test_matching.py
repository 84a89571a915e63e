from __future__ import annotations

import numpy as np
import pytest
from track_scenes import box_at, skeleton_px

from mocap.track.matching import assign, box_iou, landmark_area_px2, landmark_similarity, normalised_pose


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),  # overlap 1, union 4 + 4 - 1
        ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16),  # contained
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
        ([0, 0, 2, 2], [2, 0, 4, 2], 0.0),  # touching edges
        ([0, 0, 2, 2], [5, 5, 6, 6], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes: no division by zero
        ([0, 0, 10, 20], [5, 0, 15, 20], 100 / 300),
    ],
)
def test_box_iou_by_hand(a: list[float], b: list[float], iou: float) -> None:
    np.testing.assert_allclose(box_iou([a], [b]), [[iou]])


def test_box_iou_is_all_pairs_and_handles_empty_sides() -> None:
    a = [[0, 0, 2, 2], [1, 1, 3, 3]]
    b = [[0, 0, 2, 2], [1, 1, 3, 3], [9, 9, 10, 10]]
    np.testing.assert_allclose(box_iou(a, b), [[1, 1 / 7, 0], [1 / 7, 1, 0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)
    assert box_iou(a, np.zeros((0, 4))).shape == (2, 0)


def test_landmark_area_ignores_nan_and_is_at_least_one() -> None:
    landmarks = [[[0, 0, 1], [4, 10, 0.1], [np.nan, 50, 1]], [[3, 3, 1], [3, 3, 1], [np.nan, 0, 1]]]
    np.testing.assert_array_equal(landmark_area_px2(landmarks), [40, 1])


def test_normalised_pose_by_hand() -> None:
    # The visibility-0 landmark counts for the extent (area 100, scale 10) but not for the centroid (5, 5).
    pose, weight = normalised_pose([[[0, 0, 1], [10, 0, 0], [10, 10, 1]]])
    np.testing.assert_allclose(pose, [[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5]]])
    np.testing.assert_array_equal(weight, [[1, 0, 1]])


def test_landmark_similarity_by_hand() -> None:
    # a: centroid (20/3, 10/3), b: centroid (10/3, 20/3), both scale 10: normalised distances^2 are
    # 2/9, 2/9 and 8/9, so with kappa = 1 the similarity is (2 exp(-1/9) + exp(-4/9)) / 3.
    a = [[[0, 0, 1], [10, 10, 1], [10, 0, 1]]]
    b = [[[0, 0, 1], [10, 10, 1], [0, 10, 1]]]
    expected = (2 * np.exp(-1 / 9) + np.exp(-4 / 9)) / 3
    np.testing.assert_allclose(landmark_similarity(a, b, kappa=1.0), [[expected]])


def test_landmark_similarity_weights_by_visibility() -> None:
    # a's third landmark is invisible: only the first two count. a's poses are (-1/2, -1/2) and
    # (1/2, 1/2); b's (-1/3, -2/3) and (2/3, 1/3): each 1/18 apart squared, so exp(-1/36).
    a = [[[0, 0, 1], [10, 10, 1], [5, 5, 0]]]
    b = [[[0, 0, 1], [10, 10, 1], [0, 10, 1]]]
    np.testing.assert_allclose(landmark_similarity(a, b, kappa=1.0), [[np.exp(-1 / 36)]])


def test_landmark_similarity_ignores_position_and_size_but_not_pose() -> None:
    standing = skeleton_px(box_at(100, 400, 300))
    same_pose_elsewhere = skeleton_px(box_at(500, 300, 150))
    arms_up = skeleton_px(box_at(100, 400, 300), arms_up=1.0)
    sim = landmark_similarity(standing[None], np.stack([standing, same_pose_elsewhere, arms_up]))
    assert sim[0, 0] == pytest.approx(1.0)
    assert sim[0, 1] == pytest.approx(1.0)
    assert sim[0, 2] < 0.1


def test_landmark_similarity_without_shared_visible_landmarks_is_zero() -> None:
    a = [[[0, 0, 1], [10, 10, 0]]]
    b = [[[0, 0, 0], [np.nan, np.nan, 1]]]
    assert landmark_similarity(a, b).tolist() == [[0.0]]
    assert landmark_similarity(np.zeros((0, 33, 3)), np.zeros((2, 33, 3))).shape == (0, 2)


def test_assign_by_hand() -> None:
    matches, rows, cols = assign([[0.1, 0.9], [0.9, 0.2]], max_cost=0.5)
    assert matches.tolist() == [[0, 0], [1, 1]] and rows.tolist() == [] and cols.tolist() == []


def test_assign_is_optimal_not_greedy() -> None:
    # Greedy takes (0, 0) = 0.1 then (1, 1) = 0.9; the optimum is (0, 1) + (1, 0) = 0.35.
    matches, _, _ = assign([[0.1, 0.2], [0.15, 0.9]], max_cost=1.0)
    assert matches.tolist() == [[0, 1], [1, 0]]


def test_assign_never_breaks_a_confident_pair_to_match_more() -> None:
    # (0, 0) alone costs 0.1 + 0.8 for leaving row 1 and column 1; (0, 1) + (1, 0) costs 1.4.
    matches, rows, cols = assign([[0.1, 0.7], [0.7, 9.0]], max_cost=0.8)
    assert matches.tolist() == [[0, 0]] and rows.tolist() == [1] and cols.tolist() == [1]


def test_assign_gates_on_max_cost_and_never_matches_nan_or_inf() -> None:
    matches, rows, cols = assign([[0.6, np.nan], [np.inf, 0.4]], max_cost=0.5)
    assert matches.tolist() == [[1, 1]] and rows.tolist() == [0] and cols.tolist() == [0]


def test_assign_rectangular_and_empty() -> None:
    matches, rows, cols = assign([[0.5, 0.1, 0.3], [0.2, 0.4, 0.1]], max_cost=1.0)
    assert matches.tolist() == [[0, 1], [1, 2]] and rows.tolist() == [] and cols.tolist() == [0]
    matches, rows, cols = assign(np.zeros((0, 3)), max_cost=1.0)
    assert matches.shape == (0, 2) and rows.tolist() == [] and cols.tolist() == [0, 1, 2]
    assert matches.dtype == rows.dtype == cols.dtype == np.int64
