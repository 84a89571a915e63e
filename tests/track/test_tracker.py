from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from track_scenes import Person, box_at, detections, id_per_person, id_switches, jittered, painted, walk

from mocap.errors import ConfigError
from mocap.track.tracker import TrackConfig, Tracker
from mocap.types import Detections, Tracks, TrackState

Scene = list[list[tuple[str, Person]]]  # per frame: (name, person) in detection-row order


def run(
    scene: Scene, config: TrackConfig | None = None, images: bool = False
) -> tuple[list[Tracks], dict[str, list[int]]]:
    """Track a scene (with painted frames when ``images``: people can be re-identified); return each frame's
    Tracks and the id each named person got per tracked frame."""
    tracker = Tracker(config or TrackConfig())
    outputs = []
    for frame in scene:
        people = [p for _, p in frame]
        outputs.append(tracker.update(detections(people), image_rgb=painted(people) if images else None))
    return outputs, id_per_person(outputs, [[name for name, _ in frame] for frame in scene])


def together(**people: Sequence[Person]) -> Scene:
    """Zip per-person sequences (all the same length) into a scene."""
    return [list(zip(people, frame, strict=True)) for frame in zip(*people.values(), strict=True)]


# --- scenes -------------------------------------------------------------------------------------


def walk_past() -> Scene:
    """Two people of the same size walk towards each other and past: boxes overlap for ~14 frames."""
    return together(a=walk(100, 8, 60), b=walk(580, -8, 60, arms_up=1.0))


def near_and_far() -> Scene:
    """A near, tall person walks in front of a far, small one going the other way, at different speeds."""
    return together(
        near=walk(60, 10, 50, height=360, bottom=470),
        far=walk(520, -6, 50, height=220, bottom=380, arms_up=0.7),
    )


def meet_and_turn_back() -> Scene:
    """Two people meet, stand in the same box for 6 frames, and walk back the way they came.

    The box Kalman filters still carry the old velocities when the people separate, so IoU alone
    favours the wrong person: only the pose (arms down vs arms up) tells them apart.
    """
    a_in, b_in = walk(108, 8, 24), walk(492, -8, 24, arms_up=1.0)
    a_stay = [Person(box_at(300, 450, 300), stride=0.5)] * 6
    b_stay = [Person(box_at(300, 450, 300), arms_up=1.0, stride=0.5)] * 6
    a_out, b_out = walk(292, -8, 24), walk(308, 8, 24, arms_up=1.0)
    return together(a=a_in + a_stay + a_out, b=b_in + b_stay + b_out)


def cross_behind() -> Scene:
    """A far person passes behind a near one and is not detected while hidden (6 frames)."""
    scene = together(
        near=walk(100, 8, 50, height=330, bottom=470),
        far=walk(500, -8, 50, height=260, bottom=400, arms_up=1.0),
    )
    hidden = range(22, 28)  # the centres are within 24 px of each other here
    return [[(n, p) for n, p in frame if not (n == "far" and f in hidden)] for f, frame in enumerate(scene)]


def single(person: Sequence[Person], present: Sequence[bool]) -> Scene:
    return [[("p", p)] if here else [] for p, here in zip(person, present, strict=True)]


# --- identity -----------------------------------------------------------------------------------


def test_two_people_walking_in_straight_lines_keep_their_ids() -> None:
    scene = together(a=walk(100, 6, 40, height=300), b=walk(600, -4, 40, height=200, bottom=300))
    outputs, ids = run(scene)
    assert ids == {"a": [1] * 40, "b": [2] * 40}
    assert [o.state.tolist() for o in outputs[:3]] == [[0, 0], [0, 0], [1, 1]]
    assert all(o.state.tolist() == [TrackState.CONFIRMED] * 2 for o in outputs[2:])


@pytest.mark.parametrize("make_scene", [walk_past, near_and_far, meet_and_turn_back, cross_behind])
@pytest.mark.parametrize("reverse_rows", [False, True])
def test_crossing_people_never_swap_ids(make_scene, reverse_rows: bool) -> None:
    scene = make_scene()
    if reverse_rows:  # the detector's row order must not matter
        scene = [frame[::-1] for frame in scene]
    _, ids = run(scene)
    assert id_switches(ids) == 0
    assert len({track_id for track_ids in ids.values() for track_id in track_ids}) == 2


@pytest.mark.parametrize("make_scene", [walk_past, near_and_far, meet_and_turn_back, cross_behind])
def test_crossing_people_never_swap_ids_under_detector_jitter(make_scene) -> None:
    scene = make_scene()
    names = [[name for name, _ in frame] for frame in scene]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        tracker = Tracker()
        outputs = [tracker.update(jittered(detections([p for _, p in frame]), rng, sigma_px=4.0)) for frame in scene]
        assert id_switches(id_per_person(outputs, names)) == 0


def test_turn_back_is_a_case_that_iou_alone_gets_wrong() -> None:
    # Guards the scene above: if IoU alone solved it, it would not test the pose term.
    _, ids = run(meet_and_turn_back(), TrackConfig(iou_weight=1.0))
    assert id_switches(ids) > 0


def test_hidden_person_is_lost_then_reassociated() -> None:
    outputs, ids = run(cross_behind())
    far_id = ids["far"][0]
    lost_rows = [o[o.track_id == far_id] for o in outputs[22:28]]
    assert all(r.state.tolist() == [TrackState.LOST] and r.detection_index.tolist() == [-1] for r in lost_rows)
    assert ids["far"] == [far_id] * 44


def test_detection_index_points_at_the_matched_row_whatever_the_order() -> None:
    rng = np.random.default_rng(0)
    scene = walk_past()
    tracker = Tracker()
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for frame in scene:
        order = rng.permutation(len(frame))
        dets = detections([frame[i][1] for i in order])
        tracks = tracker.update(dets)
        np.testing.assert_array_equal(tracks.xyxy_px, dets.xyxy_px[tracks.detection_index])
        np.testing.assert_array_equal(tracks.landmarks_px, dets.landmarks_px[tracks.detection_index])
        for track_id, row in zip(tracks.track_id, tracks.detection_index, strict=True):
            ids[frame[order[row]][0]].add(int(track_id))
    assert ids == {"a": {1}, "b": {2}}


# --- life cycle ---------------------------------------------------------------------------------


def test_person_occluded_for_ten_frames_keeps_their_id() -> None:
    present = [not 15 <= f < 25 for f in range(40)]
    person = walk(100, 6, 40)
    outputs, ids = run(single(person, present))
    assert ids == {"p": [1] * 30}
    for f in range(15, 25):
        lost = outputs[f]
        assert lost.track_id.tolist() == [1] and lost.state.tolist() == [TrackState.LOST]
        assert lost.detection_index.tolist() == [-1] and lost.score.tolist() == [0.0]
        assert np.isnan(lost.landmarks_px).all() and np.isnan(lost.landmarks_world_m).all()
        # The LOST box is the Kalman prediction: the person keeps walking at 6 px/frame.
        np.testing.assert_allclose(lost.xyxy_px[0], person[f].xyxy_px, atol=3.0)
    assert outputs[25].state.tolist() == [TrackState.CONFIRMED]


@pytest.mark.parametrize(("absent_frames", "ids_on_return"), [(30, [1]), (31, [2])])
def test_person_away_longer_than_max_lost_frames_gets_a_new_id(absent_frames: int, ids_on_return: list[int]) -> None:
    standing = [Person(box_at(300, 450, 300))] * (10 + absent_frames + 5)
    present = [not 10 <= f < 10 + absent_frames for f in range(len(standing))]
    outputs, ids = run(single(standing, present), TrackConfig(max_lost_frames=30))
    assert sorted(set(ids["p"][10:])) == ids_on_return
    lost_frames = sum(1 for o in outputs if o.state.tolist() == [TrackState.LOST])
    assert lost_frames == 30  # returned as LOST for exactly max_lost_frames frames, then deleted


@pytest.mark.parametrize("fp_frames", [1, 2])
def test_short_false_positive_never_becomes_confirmed(fp_frames: int) -> None:
    person = walk(100, 5, 20)
    ghost = Person(box_at(550, 200, 120), arms_up=1.0)
    scene = [[("p", p)] + ([("ghost", ghost)] if 8 <= f < 8 + fp_frames else []) for f, p in enumerate(person)]
    outputs, ids = run(scene)
    ghost_id = ids["ghost"][0]
    ghost_rows = [o[o.track_id == ghost_id] for o in outputs]
    assert all(r.state.tolist() in ([], [TrackState.TENTATIVE]) for r in ghost_rows)
    assert all(ghost_id not in o.track_id for o in outputs[8 + fp_frames :])  # deleted at its first miss
    assert set(ids["p"]) == {1}


@pytest.mark.parametrize("min_hits", [1, 3, 5])
def test_tentative_track_is_confirmed_after_min_hits(min_hits: int) -> None:
    outputs, _ = run(single(walk(100, 5, 8), [True] * 8), TrackConfig(min_hits=min_hits))
    states = [o.state[0] for o in outputs]
    assert states == [TrackState.TENTATIVE] * (min_hits - 1) + [TrackState.CONFIRMED] * (9 - min_hits)


def test_tentative_track_that_misses_is_deleted() -> None:
    present = [True, True, False, True, True, True]
    outputs, ids = run(single([Person(box_at(300, 450, 300))] * 6, present))
    assert outputs[2].track_id.tolist() == []
    assert ids == {"p": [1, 1, 2, 2, 2]}


def test_ages_count_frames_since_birth_including_gaps() -> None:
    tracker = Tracker()
    dets = detections([Person(box_at(300, 450, 300))])
    ages = [tracker.update(dets, frame_gap=gap).age.tolist() for gap in (1, 1, 3, 1)]
    assert ages == [[0], [1], [4], [5]]


def test_low_score_detection_continues_a_track_but_never_starts_one() -> None:
    person = walk(100, 5, 10)
    faint = [Person(p.xyxy_px, score=0.2) for p in person]
    outputs, _ = run(single(faint, [True] * 10))
    assert all(len(o) == 0 for o in outputs)
    scene = single(person[:5] + faint[5:], [True] * 10)
    outputs, ids = run(scene)
    assert ids == {"p": [1] * 10}
    assert outputs[-1].state.tolist() == [TrackState.CONFIRMED]


# --- frame gaps, reset, numbering, inputs ---------------------------------------------------------


@pytest.mark.parametrize(("frame_gap", "expected_ids"), [(6, [1]), (1, [1, 2])])
def test_frame_gap_predicts_over_dropped_frames(frame_gap: int, expected_ids: list[int]) -> None:
    # 25 px/frame with 100 px wide boxes: after 6 dropped-frame steps the person is 150 px further
    # on, which a 1-step prediction does not even overlap.
    person = walk(100, 25, 12, height=250)
    tracker = Tracker()
    for p in person[:6]:
        tracker.update(detections([p]))
    tracks = tracker.update(detections([person[11]]), frame_gap=frame_gap)
    assert sorted(tracks.track_id.tolist()) == expected_ids
    assert tracks[tracks.detection_index >= 0].track_id.tolist() == expected_ids[-1:]


def test_frame_gap_below_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="frame_gap must be >= 1"):
        Tracker().update(Detections.empty(), frame_gap=0)


def test_reset_forgets_tracks_and_restarts_numbering() -> None:
    tracker = Tracker(first_track_id=7)
    dets = detections([Person(box_at(100, 450, 300)), Person(box_at(500, 450, 300), arms_up=1.0)])
    for _ in range(4):
        tracker.update(dets)
    assert tracker.next_track_id == 9
    tracker.reset()
    assert tracker.next_track_id == 7
    tracks = tracker.update(dets)
    assert tracks.track_id.tolist() == [7, 8] and tracks.state.tolist() == [TrackState.TENTATIVE] * 2


def test_empty_detections() -> None:
    tracker = Tracker()
    assert tracker.update(Detections.empty()) == Tracks.empty()
    dets = detections([Person(box_at(300, 450, 300))])
    for _ in range(3):
        tracker.update(dets)
    lost = tracker.update(Detections.empty())
    assert lost.track_id.tolist() == [1] and lost.state.tolist() == [TrackState.LOST]
    assert lost.xyxy_px.dtype == np.float32 and lost.landmarks_px.shape == (1, 33, 3)


def test_first_track_id_continues_numbering() -> None:
    tracker = Tracker(first_track_id=100)
    tracks = tracker.update(detections([Person(box_at(100, 450, 300)), Person(box_at(500, 450, 300))]))
    assert tracks.track_id.tolist() == [100, 101]
    assert tracker.next_track_id == 102


def test_ids_start_at_one() -> None:
    with pytest.raises(ConfigError, match="ids start at 1"):
        Tracker(first_track_id=0)


def test_input_detections_are_never_mutated() -> None:
    tracker = Tracker()
    for frame in walk_past()[:30]:
        dets = detections([p for _, p in frame])
        before = detections([p for _, p in frame])
        tracks = tracker.update(dets)
        assert dets == before
        tracks.xyxy_px[:] = -1.0  # and outputs share no memory with inputs
        tracks.landmarks_px[:] = -1.0
        assert dets == before


def test_tracking_is_deterministic() -> None:
    first, _ = run(cross_behind())
    second, _ = run(cross_behind())
    assert all(a == b for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iou_weight": 1.5},
        {"min_iou": 1.0},
        {"match_threshold": 0.0},
        {"tentative_match_threshold": 1.2},
        {"min_hits": 0},
        {"max_lost_frames": -1},
        {"landmark_kappa": 0.0},
    ],
)
def test_invalid_config_is_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="TrackConfig"):
        TrackConfig(**kwargs)  # type: ignore[arg-type]


def test_a_resumed_tracker_takes_up_the_tracks_it_is_given() -> None:
    """An interrupted run's tracks are restored: two people walking on keep their ids (and are confirmed at once,
    no tentative frames); a new person gets the next free id; a restored LOST track expires on schedule."""
    scene = walk_past()
    first, rest = scene[:20], scene[20:]
    outputs, _ = run(first)
    last = outputs[-1]
    resumed = Tracker(TrackConfig(), first_track_id=int(last.track_id.max()) + 1)
    for row in range(len(last)):
        resumed.restore(int(last.track_id[row]), last.xyxy_px[row], last.landmarks_px[row])
    tracks = [resumed.update(detections([p for _, p in frame])) for frame in rest]
    ids = id_per_person(tracks, [[name for name, _ in frame] for frame in rest])
    _, whole = run(scene)
    assert ids["a"] == whole["a"][20:] and ids["b"] == whole["b"][20:]  # the same ids, every frame
    assert tracks[0].state.tolist() == [TrackState.CONFIRMED] * 2
    newcomer = resumed.update(detections([Person(box_at(300, 450, 300))]))
    assert newcomer.track_id.max() == 3
    with pytest.raises(ValueError, match="live already"):
        resumed.restore(1, last.xyxy_px[0], last.landmarks_px[0])

    lost = Tracker(TrackConfig(max_lost_frames=5))
    lost.restore(7, last.xyxy_px[0], last.landmarks_px[0], frames_unmatched=4)
    assert lost.update(Detections.empty()).state.tolist() == [TrackState.LOST]  # 5 frames unmatched: still kept
    assert len(lost.update(Detections.empty())) == 0  # 6: dropped
    assert lost.next_track_id == 8


# --- re-identification ----------------------------------------------------------------------------


def away_and_back(absent: int, back: list[Person]) -> Scene:
    """A person walks right for 20 frames, is hidden for ``absent`` frames, and ``back`` is who then appears."""
    before = walk(300, 6, 20)
    return [[("p", p)] for p in before] + [[] for _ in range(absent)] + [[("p", p)] for p in back]


@pytest.mark.parametrize("absent", [31, 60, 149])
def test_a_person_away_longer_than_max_lost_frames_is_known_again_by_their_clothes(absent: int) -> None:
    """Walking on behind a wall for 1-5 s: the box's motion cannot say where they come out, their clothes can."""
    back = walk(300 + 6 * (20 + absent), 6, 10)
    outputs, ids = run(away_and_back(absent, back), images=True)
    assert ids == {"p": [1] * 30}  # one id before and after
    assert all(len(o) == 0 for o in outputs[20 + 31 : 20 + absent])  # no LOST rows past max_lost_frames
    assert outputs[20 + absent].state.tolist() == [TrackState.CONFIRMED]  # confirmed at once on return
    # Without the frames' images nobody is re-identified: the tracker behaves as before.
    assert run(away_and_back(absent, back))[1]["p"][-1] == 2


def test_someone_in_other_clothes_gets_a_new_id() -> None:
    back = [replace(p, shirt=(30, 160, 40)) for p in walk(300 + 6 * 60, 6, 10)]
    assert sorted(set(run(away_and_back(40, back), images=True)[1]["p"])) == [1, 2]


def test_re_identification_needs_a_walk_the_person_could_have_made() -> None:
    """40 frames away reach (0.05 x 40 + 0.5) x 300 = 750 px of the last box: 1 500 px away is someone else."""
    back = walk(300 + 6 * 19 + 1500, 6, 10)
    assert sorted(set(run(away_and_back(40, back), images=True)[1]["p"])) == [1, 2]


def test_a_person_away_longer_than_reid_frames_gets_a_new_id() -> None:
    back = walk(300 + 6 * 60, 6, 10)
    config = TrackConfig(reid_frames=50)
    assert sorted(set(run(away_and_back(40, back), config, images=True)[1]["p"])) == [1]
    assert sorted(set(run(away_and_back(60, back), config, images=True)[1]["p"])) == [1, 2]


def test_two_people_who_both_come_back_get_their_own_ids() -> None:
    """Two people leave together and come back in the other order: each by their own clothes."""
    a, b = walk(300, 6, 20), [replace(p, shirt=(240, 220, 40), trousers=(20, 20, 20)) for p in walk(900, 6, 20)]
    scene: Scene = [[("a", pa), ("b", pb)] for pa, pb in zip(a, b, strict=True)] + [[] for _ in range(45)]
    back_a, back_b = walk(900, 6, 10), [replace(p, shirt=b[0].shirt, trousers=b[0].trousers) for p in walk(400, 6, 10)]
    scene += [[("b", pb), ("a", pa)] for pa, pb in zip(back_a, back_b, strict=True)]
    ids = run(scene, images=True)[1]
    assert set(ids["a"]) == {1} and set(ids["b"]) == {2}


def test_clothes_are_not_learnt_while_boxes_overlap() -> None:
    """Pixels inside overlapping boxes may be the other person's: a track remembers what it saw alone."""
    tracker = Tracker()
    red, green = Person(box_at(300, 450, 300)), Person(box_at(340, 450, 300), shirt=(30, 160, 40))
    for _ in range(5):
        tracker.update(detections([red]), image_rgb=painted([red]))
    tracker.update(detections([red, green]), image_rgb=painted([red, green]))  # green stands in front of red
    (track,) = [t for t in tracker._tracks if t.track_id == 1]
    np.testing.assert_allclose(track.appearance[:3], np.array(red.shirt) / 255, atol=1e-6)


def test_a_person_who_comes_back_beside_someone_is_known_again_once_clear() -> None:
    """The first two frames back, their box overlaps a bystander's (no colours learnt or compared): a tentative
    track starts, and on the third frame, clear of the bystander, the frame that would confirm it, they get their
    old id instead and the new one is dropped."""
    bystander = Person(box_at(900, 450, 300), shirt=(30, 160, 40), trousers=(90, 60, 20))
    before = walk(300, 6, 20)
    scene: Scene = [[("p", p), ("b", bystander)] for p in before] + [[("b", bystander)] for _ in range(40)]
    back = [Person(box_at(cx, 450, 300), stride=0.5) for cx in (995, 1000, 1030, 1040)]  # overlapping, then clear
    scene += [[("p", p), ("b", bystander)] for p in back]
    outputs, ids = run(scene, images=True)
    assert set(ids["b"]) == {2}
    assert ids["p"][-4:] == [3, 3, 1, 1]  # tentative 3 while beside the bystander, then known again as 1
    assert outputs[-1].track_id.tolist() == [1, 2] and outputs[-1].state.tolist() == [TrackState.CONFIRMED] * 2


def test_reid_frames_zero_never_re_identifies() -> None:
    """Not even a person lost for less than max_lost_frames whom the box's motion no longer finds."""
    back = walk(300 + 6 * 19 + 300, 6, 10)  # 20 frames away, reappearing 300 px from where the box would be
    assert sorted(set(run(away_and_back(20, back), images=True)[1]["p"])) == [1]
    assert sorted(set(run(away_and_back(20, back), TrackConfig(reid_frames=0), images=True)[1]["p"])) == [1, 2]
