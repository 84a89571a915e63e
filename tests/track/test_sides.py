from __future__ import annotations

from dataclasses import replace

import numpy as np
from track_scenes import detections, jittered, walk

from mocap.track.sides import SideConfig, SideKeeper, align_mirror, relabel, swap_gain_px, unswap_world
from mocap.track.tracker import Tracker
from mocap.types import Detections, MirrorView, Tracks


def swapped_at(dets: Detections, frames: set[int], index: int) -> Detections:
    """The detector's output on the given frames read as a body facing away: left and right exchanged, and the world
    landmarks mirrored in depth as well (a proper body facing away)."""
    if index not in frames:
        return dets
    world = relabel(dets.landmarks_world_m) * np.array([1, 1, -1], np.float32)
    return replace(dets, landmarks_px=relabel(dets.landmarks_px), landmarks_world_m=world)


def with_depth(dets: Detections, rng: np.random.Generator) -> Detections:
    """World landmarks with some depth (the scenes' are flat), so that mirroring them in depth shows."""
    world = dets.landmarks_world_m.copy()
    world[..., 2] = rng.normal(0, 0.1, world.shape[:-1])
    return replace(dets, landmarks_world_m=world)


def keep_sides(frames: list[Detections], config: SideConfig | None = None) -> list[Tracks]:
    tracker, keeper = Tracker(), SideKeeper(config)
    return [keeper.keep(tracker.update(dets)) for dets in frames]


def test_relabel_is_an_involution_that_moves_no_point() -> None:
    landmarks = np.random.default_rng(0).normal(size=(2, 33, 3))
    np.testing.assert_array_equal(relabel(relabel(landmarks)), landmarks)
    assert {tuple(p) for p in relabel(landmarks)[0]} == {tuple(p) for p in landmarks[0]}
    np.testing.assert_array_equal(unswap_world(unswap_world(landmarks)), landmarks)


def test_a_few_swapped_frames_are_relabelled_back() -> None:
    rng = np.random.default_rng(1)
    truth = [with_depth(jittered(detections([p]), rng, 2.0), rng) for p in walk(300, 4, 60)]
    swaps = {20, 21, 22, 40}
    out = keep_sides([swapped_at(d, swaps, i) for i, d in enumerate(truth)])
    for i, (tracks, dets) in enumerate(zip(out, truth, strict=True)):
        np.testing.assert_array_equal(tracks.landmarks_px[0], dets.landmarks_px[0], err_msg=f"frame {i}")
        np.testing.assert_array_equal(tracks.landmarks_world_m[0], dets.landmarks_world_m[0], err_msg=f"frame {i}")


def test_the_detectors_labels_pass_when_disabled() -> None:
    truth = [detections([p]) for p in walk(300, 4, 30)]
    seen = [swapped_at(d, {20}, i) for i, d in enumerate(truth)]
    out = keep_sides(seen, SideConfig(enabled=False))
    np.testing.assert_array_equal(out[20].landmarks_px[0], seen[20].landmarks_px[0])


def test_a_gradual_turn_is_followed_not_undone() -> None:
    """A person turning around: each left/right pair closes in, meets in profile and opens the other way over a
    second. Frame to frame the labels fit as they are; nothing is exchanged."""
    frames = []
    for i, person in enumerate(walk(300, 0, 30)):
        dets = detections([person])
        px = dets.landmarks_px.copy()
        centre = px[:, [11, 12, 23, 24], 0].mean()
        px[..., 0] = centre + (px[..., 0] - centre) * np.cos(np.pi * i / 29)  # width x cos(turn): +1 -> -1
        frames.append(replace(dets, landmarks_px=px))
    out = keep_sides(frames)
    for tracks, dets in zip(out, frames, strict=True):
        np.testing.assert_array_equal(tracks.landmarks_px, dets.landmarks_px)


def test_a_track_that_began_swapped_follows_the_detector_after_its_credit_runs_out() -> None:
    truth = [detections([p]) for p in walk(300, 4, 40)]
    seen = [swapped_at(d, set(range(8)), i) for i, d in enumerate(truth)]  # the first 8 frames swapped
    out = keep_sides(seen)
    # 8 frames of agreement banked (frames 0-7, swapped as they are): frames 8-15 are held to the track's labels,
    # then the track follows the detector.
    for i in range(8, 16):
        np.testing.assert_array_equal(out[i].landmarks_px[0], relabel(truth[i].landmarks_px)[0], err_msg=f"{i}")
    for i in range(16, 40):
        np.testing.assert_array_equal(out[i].landmarks_px[0], truth[i].landmarks_px[0], err_msg=f"{i}")


def test_gain_is_large_for_a_swap_and_nothing_for_a_profile() -> None:
    person = detections(walk(300, 0, 1)).landmarks_px
    kept, exchanged = swap_gain_px(person, relabel(person))
    assert exchanged[0] < 1e-6 < 20 < kept[0]
    profile = person.copy()
    profile[..., 0] = profile[..., 0].mean()  # everyone's left and right on one vertical line
    kept, exchanged = swap_gain_px(profile, relabel(profile))
    assert abs(kept[0] - exchanged[0]) < 1e-3


def test_the_mirrored_view_is_labelled_as_the_direct_one() -> None:
    direct = detections([p for p in walk(300, 0, 1)] + [p for p in walk(700, 0, 1)])
    direct = with_depth(direct, np.random.default_rng(2))
    mirror = MirrorView(
        np.stack([relabel(direct.landmarks_px[0]), direct.landmarks_px[1] + 1.0]),
        np.stack([unswap_world(direct.landmarks_world_m[0]), direct.landmarks_world_m[1]]),
    )
    aligned = align_mirror(direct.landmarks_px, mirror, SideConfig())
    np.testing.assert_array_equal(aligned.landmarks_px[0], direct.landmarks_px[0])
    np.testing.assert_array_equal(aligned.landmarks_world_m[0], direct.landmarks_world_m[0])
    np.testing.assert_array_equal(aligned.landmarks_px[1], mirror.landmarks_px[1])  # already as the direct view
    nobody = MirrorView(np.full((2, 33, 3), np.nan, np.float32), np.full((2, 33, 3), np.nan, np.float32))
    assert np.isnan(align_mirror(direct.landmarks_px, nobody, SideConfig()).landmarks_px).all()
