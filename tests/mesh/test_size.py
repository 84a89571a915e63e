from __future__ import annotations

import numpy as np
import pytest

from mocap.mesh.size import LIMBS, SWITCH_FRAMES, TrackSizes, skeleton_size_m, track_size_scales


def test_skeleton_size_sums_the_limbs_and_scales_with_the_body() -> None:
    rng = np.random.default_rng(0)
    landmarks = rng.normal(0, 0.4, (3, 33, 3))
    expected = sum(np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=-1) for a, b in LIMBS)
    np.testing.assert_allclose(skeleton_size_m(landmarks), expected)
    np.testing.assert_allclose(skeleton_size_m(1.1 * landmarks + 3.0), 1.1 * expected)  # size, not placement
    assert len(LIMBS) == 12 and all(
        j in {11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28} for limb in LIMBS for j in limb
    )


def test_each_track_gets_its_running_median_size() -> None:
    sizes = TrackSizes(history=4)
    ids = np.array([1, 2])
    assert sizes.steady(ids, np.array([5.0, 3.0])).tolist() == [5.0, 3.0]  # the first frame is its own median
    assert sizes.steady(ids, np.array([6.0, np.nan])).tolist() == [5.5, 3.0]  # a size that could not be read: skipped
    assert sizes.steady(ids[:1], np.array([9.0])).tolist() == [5.5]  # over 25 % off: held apart
    for _ in range(4):
        sizes.steady(ids[:1], np.array([5.0]))
    assert sizes.steady(ids[:1], np.array([5.0])).tolist() == [5.0]  # only the last ``history`` sizes count
    assert sizes.steady(np.array([2]), np.array([3.4])).tolist() == [3.2]  # track 2 kept its own


def test_a_track_that_changes_person_learns_the_new_size() -> None:
    """An id switch hands track 1 from a person of size 4.0 to one of 5.5 (38 % larger): the steady size keeps 4.0
    while that could be a passing misreading (which it then ignores), and follows 5.5 after ``SWITCH_FRAMES`` frames
    in a row; frames wavering by 10 % never do that."""
    sizes, ids = TrackSizes(), np.array([1])
    wavering = 4.0 * (1 + 0.1 * np.sign(np.sin(np.arange(60))))
    assert all(sizes.steady(ids, np.array([s]))[0] == pytest.approx(4.0, rel=0.11) for s in wavering)
    steady = sizes.steady(ids, np.array([4.0]))[0]
    for _ in range(SWITCH_FRAMES - 1):  # a misreading, shorter than a switch: ignored, and forgotten after
        assert sizes.steady(ids, np.array([9.0]))[0] == steady
    assert sizes.steady(ids, np.array([4.0]))[0] == np.median([*wavering, 4.0, 4.0])
    followed = [sizes.steady(ids, np.array([5.5]))[0] for _ in range(SWITCH_FRAMES)]
    assert followed[-2] < 4.5 and followed[-1] == 5.5
    assert sizes.steady(ids, np.array([4.0]))[0] == 5.5  # the old person's sizes are gone


def test_the_offline_pass_takes_each_track_to_the_median_of_all_its_sizes() -> None:
    rng = np.random.default_rng(2)
    own = 4.0 * (1 + rng.normal(0, 0.05, 40))  # the frames' own answers, wavering about the person's size
    own[:5] *= 1.1  # a start the running median cannot yet tell from the rest
    sizes = TrackSizes()
    held = np.concatenate([sizes.steady(np.array([1]), own[i : i + 1]) for i in range(len(own))])
    scales = track_size_scales(own, held)
    np.testing.assert_allclose(held * scales, np.median(own))  # every frame at the whole track's median
    assert scales[:5].std() > 0, "the first frames were held at sizes of the frames so far"


def test_the_offline_pass_gives_each_person_of_a_track_their_own_size() -> None:
    own = np.concatenate([np.full(20, 4.0), np.full(30, 5.2)])  # the track changed person at frame 20
    own[[3, 25]] = [np.nan, 0.0]  # unread sizes
    sizes = TrackSizes()
    held = np.concatenate([sizes.steady(np.array([1]), own[i : i + 1]) for i in range(len(own))])
    sized = held * track_size_scales(own, held)
    assert (held[20 : 20 + SWITCH_FRAMES] == 4.0).all(), "the run held the new person at the old size a while"
    np.testing.assert_allclose(sized[:20], 4.0)
    np.testing.assert_allclose(sized[20:], 5.2)  # from the change on, not from the running median's restart
