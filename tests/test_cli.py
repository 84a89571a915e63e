"""End to end: the `mocap` command on clips with real people, and its answers to bad input."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mocap.cli import main
from mocap.io.store import open_store
from mocap.mesh.policy import PolicyConfig
from tests.conftest import astronaut_frames, write_clip


def test_run_tracks_a_person_into_a_store_with_overlay(person_clip: Path, tmp_path: Path) -> None:
    store_path, overlay = tmp_path / "run.zarr", tmp_path / "overlay.mp4"
    assert (
        main(["run", str(person_clip), "-o", str(store_path), "--overlay", str(overlay), "--no-progress", "--no-mesh"])
        == 0
    )

    store = open_store(store_path)
    assert store.attrs["status"] == "complete"
    assert store.num_frames == 24
    assert len(store.track_ids) == 1, "one person moving smoothly keeps one id"
    track = store.track(store.track_ids[0])
    assert len(track.frame_index) >= 20  # confirmed after a few frames, then every frame
    # The person slides right: the box centre moves right by roughly the slide distance (200 px).
    centre_x = track["xyxy_px"][:, [0, 2]].mean(axis=1)
    assert 120 < centre_x[-1] - centre_x[0] < 260
    nose = track["landmarks_px"][:, 0]
    assert np.all(nose[:, 2] > 0.5) and np.all((nose[:, 1] > 80) & (nose[:, 1] < 300))

    with av.open(str(overlay)) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in video.decode(stream)) == 24


def test_max_people_defaults_to_one_for_a_webcam_and_four_for_a_file(person_clip: Path, tmp_path: Path) -> None:
    from mocap.commands.run import default_max_people

    assert default_max_people(live_source=True) == 1 and default_max_people(live_source=False) == 4
    store_path = tmp_path / "o.zarr"
    args = ["run", str(person_clip), "-o", str(store_path), "--no-progress", "--no-mesh"]
    assert main(args) == 0
    assert open_store(store_path).attrs["config"]["detect"]["max_people"] == 4
    assert main([*args, "--overwrite", "--max-people", "2"]) == 0
    assert open_store(store_path).attrs["config"]["detect"]["max_people"] == 2


def test_info_summarises_the_store(person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "run.zarr"
    main(["run", str(person_clip), "-o", str(store_path), "--no-progress", "--no-mesh"])
    capsys.readouterr()
    assert main(["info", str(store_path)]) == 0
    out = capsys.readouterr().out
    assert "landmarks_px" in out and "24" in out


def test_existing_store_needs_resume_or_overwrite(
    person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path = tmp_path / "run.zarr"
    assert (
        main(["run", str(person_clip), "-o", str(store_path), "--no-progress", "--no-mesh", "--max-frames", "5"]) == 0
    )
    assert main(["run", str(person_clip), "-o", str(store_path), "--no-progress", "--no-mesh"]) == 3
    assert "--resume" in capsys.readouterr().err
    assert open_store(store_path).num_frames == 5, "a refused run must not touch the store"
    # Resume continues after the last stored frame, and the person keeps their track (id and every frame).
    assert main(["run", str(person_clip), "-o", str(store_path), "--no-progress", "--no-mesh", "--resume"]) == 0
    store = open_store(store_path)
    assert store.num_frames == 24 and store.frame_index.tolist() == list(range(24))
    whole = tmp_path / "whole.zarr"
    assert main(["run", str(person_clip), "-o", str(whole), "--no-progress", "--no-mesh"]) == 0
    assert store.track_ids == open_store(whole).track_ids == [1]
    np.testing.assert_array_equal(store.track(1).frame_index, open_store(whole).track(1).frame_index)
    assert (
        main(
            [
                "run",
                str(person_clip),
                "-o",
                str(store_path),
                "--no-progress",
                "--no-mesh",
                "--overwrite",
                "--max-frames",
                "3",
            ]
        )
        == 0
    )
    assert open_store(store_path).num_frames == 3


@pytest.mark.parametrize(
    ("make_source", "code", "words"),
    [
        (lambda tmp: tmp / "missing.mp4", 2, "not found"),
        (lambda tmp: (tmp / "notes.mp4").write_text("not a video") and tmp / "notes.mp4", 2, "video"),
    ],
)
def test_bad_sources_exit_with_a_clear_message(
    make_source, code: int, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["run", str(make_source(tmp_path)), "-o", str(tmp_path / "o.zarr"), "--no-progress", "--no-mesh"]) == code
    )
    err = capsys.readouterr().err
    assert words in err.lower() and err.count("\n") == 1


def test_nobody_in_the_clip(empty_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "o.zarr"
    assert main(["run", str(empty_clip), "-o", str(store_path), "--no-progress", "--no-mesh"]) == 6
    assert "nobody" in capsys.readouterr().err
    assert open_store(store_path).num_frames == 10, "the frames table is still written"


def test_truncated_video_keeps_the_frames_before_the_damage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An MP4 with its index first (faststart) announces 48 frames; cutting its tail loses the last ones.
    # (An MP4 cut before its index is unreadable as a whole: see test_unreadable_mp4_leaves_no_store.)
    frames = astronaut_frames(48)
    whole = write_clip(tmp_path / "whole.mp4", frames, codec="mpeg4", options={"movflags": "faststart"})
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    store_path = tmp_path / "o.zarr"
    assert main(["run", str(cut), "-o", str(store_path), "--no-progress", "--no-mesh"]) == 2
    assert "truncat" in capsys.readouterr().err.lower()
    store = open_store(store_path)
    assert 10 < store.num_frames < 48 and store.attrs["status"] == "interrupted"
    assert len(store.track_ids) == 1, "the frames before the damage were tracked and kept"


def test_sigterm_stops_a_run_like_ctrl_c_and_the_store_resumes(tmp_path: Path) -> None:
    # What a cluster scheduler, `timeout` or `kill` sends: the store must close as "interrupted", not stay "writing".
    total, store_path = 150, tmp_path / "o.zarr"
    clip = write_clip(tmp_path / "long.mp4", astronaut_frames(total))
    args = ["run", str(clip), "-o", str(store_path), "--no-progress", "--no-mesh"]
    source = str(Path(__file__).parents[1])  # the checkout under test, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "mocap", *args], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (store_path / "zarr.json").is_file() or open_store(store_path).num_frames == 0:
            assert process.poll() is None, "the run ended before it was stopped"
            assert time.monotonic() < deadline, "the run committed nothing in 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143 and "terminated" in err
    stopped = open_store(store_path)
    assert stopped.attrs["status"] == "interrupted" and 0 < stopped.num_frames < total
    assert main([*args, "--resume"]) == 0
    resumed = open_store(store_path)
    assert resumed.attrs["status"] == "complete" and resumed.num_frames == total


def test_unreadable_mp4_leaves_no_store(person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(person_clip.read_bytes()[:5000])
    assert main(["run", str(cut), "-o", str(tmp_path / "o.zarr"), "--no-progress", "--no-mesh"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "o.zarr").exists()


def test_unwritable_output(person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", str(person_clip), "-o", str(blocker / "run.zarr"), "--no-progress", "--no-mesh"]) == 3
    assert "writable" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("mocap") is None, reason="console script not installed")
def test_console_script_help() -> None:
    import subprocess

    out = subprocess.run(["mocap", "--help"], capture_output=True, text=True, check=True).stdout
    assert "run" in out and "info" in out


def test_missing_model_files_name_the_fix(
    person_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCAP_MODELS_DIR", str(tmp_path / "no-models"))
    assert main(["run", str(person_clip), "-o", str(tmp_path / "o.zarr"), "--no-progress"]) == 4
    err = capsys.readouterr().err
    assert "MOCAP_MODELS_DIR" in err and "mocap train" in err
    assert not (tmp_path / "o.zarr").exists(), "nothing is written before the models load"


@pytest.fixture(scope="module")
def mesh_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models on the first 12 frames of a bundled sample, offline mode, 4 samples per sampled crop."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "walk.mp4"
    store = tmp_path_factory.mktemp("mesh") / "walk.zarr"
    args = ["run", str(sample), "-o", str(store), "--no-progress", "--max-frames", "12", "--samples", "4"]
    assert main(args) == 0
    return store


def test_run_with_the_mesh_model_stores_meshes(mesh_run: Path) -> None:
    store = open_store(mesh_run)
    assert store.attrs["models"]["mega_anny"].startswith("mega_anny/mega.pt sha256:")
    (track_id,) = store.track_ids
    track = store.track(track_id)
    n = len(track)
    assert track["tokens"].shape == (n, 54) and track["vertices_cam_m"].shape == (n, 13718, 3)
    vertices = track["vertices_smoothed_cam_m"].astype(np.float32)
    assert np.isfinite(vertices).all()
    # The person stands 2-15 m in front of the camera, about 1-2.2 m tall (camera y is down).
    depth = vertices[..., 2].mean(axis=1)
    height = vertices[..., 1].max(axis=1) - vertices[..., 1].min(axis=1)
    assert np.all((depth > 2) & (depth < 15)) and np.all((height > 0.8) & (height < 2.3))
    # The mesh projects onto the detected person: its centroid lands inside the tracked box.
    k = np.asarray(store.attrs.get("intrinsics") or [[640, 0, 320], [0, 640, 240], [0, 0, 1]])
    centre = vertices.mean(axis=1)
    u = k[0, 0] * centre[:, 0] / centre[:, 2] + k[0, 2]
    box = track["xyxy_px"]
    assert np.mean((u > box[:, 0]) & (u < box[:, 2])) > 0.9


def short_walk_run(store_path: Path, *options: str, frames: int = 3) -> Path:
    """``mocap run`` on the first ``frames`` frames of samples/walk.mp4 with extra ``options``; returns the store."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "walk.mp4"
    assert (
        main(["run", str(sample), "-o", str(store_path), "--no-progress", "--max-frames", str(frames), *options]) == 0
    )
    return store_path


def test_decode_choice_is_recorded_and_changes_the_mesh(mesh_run: Path, tmp_path: Path) -> None:
    argmax = open_store(short_walk_run(tmp_path / "argmax.zarr", "--decode", "argmax"))
    expected = open_store(mesh_run)
    assert argmax.attrs["config"]["policy"]["decode"] == "argmax"
    assert expected.attrs["config"]["policy"]["decode"] == "expected"
    first, second = argmax.track(argmax.track_ids[0]), expected.track(expected.track_ids[0])
    rows = np.searchsorted(second.frame_index, first.frame_index)  # the same frames in the longer run
    assert len(rows) >= 1
    np.testing.assert_array_equal(first["tokens"], second["tokens"][rows])  # same argmax tokens ...
    assert not np.allclose(first["vertices_cam_m"], second["vertices_cam_m"][rows], atol=1e-3)  # ... another mesh


def test_a_single_photo_gets_its_people_and_meshes(tmp_path: Path) -> None:
    """A photo has no next frames to confirm a track by: its people are confirmed at once (and the stored config
    says so), instead of "nobody was tracked"."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "walk.mp4"
    with av.open(str(sample)) as container:
        image = next(container.decode(video=0)).to_image()  # the walker, 640x480
    photo = tmp_path / "photo.png"
    image.save(photo)
    assert main(["run", str(photo), "-o", str(tmp_path / "photo.zarr"), "--no-progress"]) == 0
    store = open_store(tmp_path / "photo.zarr")
    assert store.num_frames == 1 and store.attrs["config"]["track"]["min_hits"] == 1
    (track_id,) = store.track_ids
    assert store.track(track_id)["vertices_smoothed_cam_m"].shape == (1, 13718, 3)


def test_side_keeping_and_the_turn_guard_can_be_turned_off(mesh_run: Path, tmp_path: Path) -> None:
    """On by default and recorded in the store; walk.mp4 has no misread frames, so turning them off changes nothing
    but the config."""
    plain = open_store(short_walk_run(tmp_path / "plain.zarr", "--no-keep-sides", "--turn-window", "0", frames=12))
    default = open_store(mesh_run)
    assert plain.attrs["config"]["sides"]["enabled"] is False
    assert default.attrs["config"]["sides"]["enabled"] is True
    assert plain.attrs["config"]["offline_smooth"]["turn_window_frames"] == 0
    assert plain.attrs["config"]["live_smooth"]["turn_window_frames"] == 0
    assert default.attrs["config"]["offline_smooth"]["turn_window_frames"] == 7
    first, second = plain.track(plain.track_ids[0]), default.track(default.track_ids[0])
    rows = np.searchsorted(second.frame_index, first.frame_index)
    np.testing.assert_array_equal(first["landmarks_px"], second["landmarks_px"][rows])
    assert main(["run", "x.mp4", "-o", str(tmp_path / "bad.zarr"), "--turn-window", "-1"]) != 0


def test_mirror_averaging_changes_only_the_doubtful_crops(mesh_run: Path, tmp_path: Path) -> None:
    def first_track(store: Any) -> Any:
        return store.track(store.track_ids[0])

    def run(name: str, threshold: float) -> Path:  # the crops' own mirror images only: no mirrored view
        # Without the steady size, which ties each frame's mesh to the frames before it.
        return short_walk_run(
            tmp_path / name, "--no-mirror-view", "--no-steady-size", "--mirror-above", str(threshold), frames=8
        )

    every, never = first_track(open_store(run("every.zarr", 0))), first_track(open_store(run("never.zarr", 1)))
    # A threshold between the frames' uncertainties (walk.mp4 is easy: all below the default 0.4).
    threshold = float(np.median(never["uncertainty"]))
    some = open_store(run("some.zarr", threshold))
    assert some.attrs["config"]["policy"]["mirror_threshold"] == threshold
    assert open_store(mesh_run).attrs["config"]["policy"]["mirror_threshold"] == PolicyConfig().mirror_threshold
    np.testing.assert_array_equal(every["tokens"], never["tokens"])  # the crop's own argmax tokens ...
    averaged, single = every["vertices_cam_m"].astype(np.float32), never["vertices_cam_m"].astype(np.float32)
    gap = np.abs(averaged - single).mean(axis=(1, 2))  # (n,) metres per frame
    assert np.all((gap > 0.002) & (gap < 0.2)), gap  # ... and another mesh, millimetres to centimetres away
    doubtful = never["uncertainty"] > threshold
    assert 0 < doubtful.sum() < len(doubtful)
    expected = np.where(doubtful[:, None, None], averaged, single)  # exactly the doubtful crops are averaged
    miss = np.abs(first_track(some)["vertices_cam_m"].astype(np.float32) - expected).mean(axis=(1, 2))
    assert np.all(miss < 0.1 * gap), (miss, gap)


def test_mirror_view_measures_every_person_twice_offline(mesh_run: Path, tmp_path: Path) -> None:
    """On by default offline: every crop's mesh is averaged with MEGA's answer for the flipped frame; the direct
    detections, tracks and tokens are those of a run without it. Off by default live."""
    viewed = open_store(mesh_run)
    single = open_store(short_walk_run(tmp_path / "single.zarr", "--no-mirror-view", frames=12))
    assert viewed.attrs["config"]["detect"]["mirror_view"] is True
    assert single.attrs["config"]["detect"]["mirror_view"] is False
    a, b = viewed.track(viewed.track_ids[0]), single.track(single.track_ids[0])
    np.testing.assert_array_equal(a.frame_index, b.frame_index)
    np.testing.assert_array_equal(a["landmarks_px"], b["landmarks_px"])  # the same direct measurement ...
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    gap = np.abs(a["vertices_cam_m"].astype(np.float32) - b["vertices_cam_m"].astype(np.float32)).mean(axis=(1, 2))
    assert np.all((gap > 0.002) & (gap < 0.2)), gap  # ... and every mesh moved, millimetres to centimetres
    live = open_store(short_walk_run(tmp_path / "live.zarr", "--mode", "live", frames=3))
    assert live.attrs["config"]["detect"]["mirror_view"] is False
    forced = open_store(short_walk_run(tmp_path / "forced.zarr", "--mode", "live", "--mirror-view", frames=3))
    assert forced.attrs["config"]["detect"]["mirror_view"] is True


def test_world_share_moves_the_body_joints_toward_the_detected_world_landmarks(mesh_run: Path, tmp_path: Path) -> None:
    """--world-share 1 puts the stored mesh's 12 body joints (hip-centred) on MediaPipe's world landmarks; 0 keeps
    MEGA's own mesh: the same tokens, another mesh. The default share is recorded."""
    from mocap.mega.evaluate import BODY_12, body_joints

    assert open_store(mesh_run).attrs["config"]["policy"]["world_share"] == PolicyConfig().world_share
    onto = open_store(
        short_walk_run(tmp_path / "onto.zarr", "--no-mirror-view", "--lift-share", "0", "--world-share", "1")
    )
    own = open_store(
        short_walk_run(tmp_path / "own.zarr", "--no-mirror-view", "--lift-share", "0", "--world-share", "0")
    )
    a, b = onto.track(onto.track_ids[0]), own.track(own.track_ids[0])
    world = a["landmarks_world_m"]
    np.testing.assert_allclose(body_joints(a["joints_cam_m"]), body_joints(world), atol=1e-4)
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    miss = np.linalg.norm(body_joints(b["joints_cam_m"]) - body_joints(world), axis=-1).mean()
    assert 0.01 < miss < 0.3, miss  # MEGA's own joints are centimetres off MediaPipe's
    assert np.all(np.isfinite(world[:, BODY_12]))


def test_lift_share_moves_the_body_joints_onto_the_lifters(
    mesh_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--lift-share 1 puts the stored mesh's 12 body joints (hip-centred) on the joint lifter's answer for the stored
    landmarks; the shares are recorded, and shares summing past 1 are refused."""
    from mocap.lifter.model import lift_joints, load_lifter
    from mocap.mega.evaluate import body_joints
    from mocap.mesh.crop import square_crops
    from mocap.mesh.models import LIFTER, model_path
    from mocap.mesh.stage import crop_landmarks
    from mocap.types import Crops

    assert open_store(mesh_run).attrs["config"]["policy"]["lift_share"] == PolicyConfig().lift_share
    onto = open_store(
        short_walk_run(tmp_path / "lift.zarr", "--no-mirror-view", "--lift-share", "1", "--world-share", "0")
    )
    assert onto.attrs["models"]["lifter_anny"].startswith("lifter_anny/lifter.pt sha256:")
    track = onto.track(onto.track_ids[0])
    landmarks_px, box = track["landmarks_px"], track["xyxy_px"]
    center, size = square_crops(landmarks_px, box)
    crops = Crops(
        track.frame_index, center, size, crop_landmarks(landmarks_px, center, size), track["landmarks_world_m"]
    )
    lifted = lift_joints(load_lifter(model_path(LIFTER)), crops)
    np.testing.assert_allclose(body_joints(track["joints_cam_m"]), lifted, atol=1e-4)
    capsys.readouterr()
    sample = Path(__file__).resolve().parents[1] / "samples" / "walk.mp4"
    shares = ["--lift-share", "0.8", "--world-share", "0.3", "--max-frames", "1"]
    assert main(["run", str(sample), "-o", str(tmp_path / "x.zarr"), *shares]) != 0
    assert "at most 1" in capsys.readouterr().err


def miss_px(store: Any, rows: np.ndarray | slice = slice(None)) -> float:
    """Mean distance (px) between a run's stored mesh's 12 body joints, projected, and MediaPipe's landmarks."""
    from mocap.mega.evaluate import BODY_12
    from mocap.mesh.crop import default_intrinsics
    from mocap.render.composite import project_px

    track = store.track(store.track_ids[0])
    k = store.attrs.get("intrinsics") or default_intrinsics(tuple(store.attrs["source"]["size_wh"]))
    uv = project_px(track["joints_cam_m"][rows][:, BODY_12], k)
    return float(np.linalg.norm(uv - track["landmarks_px"][rows][:, BODY_12, :2], axis=-1).mean())


def test_the_fused_mesh_is_placed_on_the_detected_landmarks(mesh_run: Path) -> None:
    """The translation is solved for the fused joints (``mocap.mesh.placement``): on the first 12 frames of the walk
    they project 4.0 px from MediaPipe's 2-D landmarks; MEGA's crop camera left them 10.5 px away."""
    assert open_store(mesh_run).attrs["config"]["policy"]["place_on_landmarks"] is True
    assert miss_px(open_store(mesh_run)) < 6


def test_a_person_keeps_their_size_from_frame_to_frame(mesh_run: Path, tmp_path: Path) -> None:
    """Each stored mesh is scaled to its track's running median size (``mocap.mesh.size``, this frame's included),
    where the per-frame answers (``--no-steady-size``) waver by several per cent."""
    from mocap.mesh.size import skeleton_size_m

    store = open_store(mesh_run)
    assert store.attrs["config"]["policy"]["steady_size"] is True
    sizes = skeleton_size_m(store.track(store.track_ids[0])["joints_cam_m"])
    free = open_store(short_walk_run(tmp_path / "free.zarr", "--no-steady-size", "--samples", "4", frames=12))
    assert free.attrs["config"]["policy"]["steady_size"] is False
    wavering = skeleton_size_m(free.track(free.track_ids[0])["joints_cam_m"])[: len(sizes)]
    assert np.abs(wavering / np.median(wavering) - 1).max() > 0.01, wavering
    running_median = [np.median(wavering[: k + 1]) for k in range(len(wavering))]
    np.testing.assert_allclose(sizes, running_median, rtol=2e-3)
    # Each frame's own size is stored; the offline pass holds the smoothed meshes at the whole track's median of it.
    track, free_track = store.track(store.track_ids[0]), free.track(free.track_ids[0])
    np.testing.assert_allclose(free_track["body_size_m"], skeleton_size_m(free_track["joints_cam_m"]), rtol=1e-4)
    assert store.attrs["config"]["offline_smooth"]["track_size"] is True
    assert free.attrs["config"]["offline_smooth"]["track_size"] is False  # --no-steady-size: every frame's own
    whole = np.median(track["body_size_m"])
    np.testing.assert_allclose(skeleton_size_m(track["joints_smoothed_cam_m"]), whole, rtol=0.01)


def test_refine_puts_the_mesh_on_the_detected_landmarks(tmp_path: Path) -> None:
    """30 steps, not the default 10: the first frame's placed joints start ~3.4 px from MediaPipe's, and 10 steps gain
    little there (full clips: benchmarks/results/capture_refine.json). Session 21's shares: with the default ones
    (1, 0) the fused joints are the lifter's whatever MEGA's refined shape, so only the surface between them moves."""
    shares = ("--lift-share", "0.8", "--world-share", "0.1")
    refined = open_store(short_walk_run(tmp_path / "refined.zarr", "--refine", "30", *shares))
    plain = open_store(short_walk_run(tmp_path / "plain.zarr", *shares))
    assert refined.attrs["config"]["policy"]["refine_iterations"] == 30
    assert plain.attrs["config"]["policy"]["refine_iterations"] == 0
    first, second = refined.track(refined.track_ids[0]), plain.track(plain.track_ids[0])
    rows = np.searchsorted(second.frame_index, first.frame_index)
    np.testing.assert_array_equal(first["tokens"], second["tokens"][rows])  # MEGA's tokens are kept
    # Measured 3.16 vs 3.40 px: the shape fits the landmarks too, on top of the placement both runs get.
    assert miss_px(refined) < 0.97 * miss_px(plain, rows)


def test_sampling_policy_measures_doubtful_crops_and_estimates_the_rest(mesh_run: Path, tmp_path: Path) -> None:
    from mocap.mesh.models import SPREAD, model_path
    from mocap.mesh.spread import SpreadPrior

    everyone = open_store(short_walk_run(tmp_path / "all.zarr", "--sample-above", "0", "--samples", "4"))
    nobody = open_store(short_walk_run(tmp_path / "none.zarr", "--sample-above", "1"))
    measured, estimated = everyone.track(everyone.track_ids[0]), nobody.track(nobody.track_ids[0])
    np.testing.assert_array_equal(measured["tokens"], estimated["tokens"])  # the argmax pass does not change
    assert measured["sampled"].all() and not estimated["sampled"].any()
    spread = measured["vertex_uncertainty_m"].astype(np.float32)  # (n, V) from 4 decoded samples
    assert np.all(spread.mean(axis=1) > 0.005) and np.all(spread.std(axis=1) > 0.002), "per-vertex, not uniform"
    guess = estimated["vertex_uncertainty_m"].astype(np.float32)  # the prior's estimate
    expected = SpreadPrior.load(model_path(SPREAD)).estimate_m(estimated["uncertainty"])
    np.testing.assert_allclose(guess, expected, rtol=2e-3, atol=1e-5)
    assert np.all(guess.mean(axis=1) > 0.01), "an unsampled crop is not a certain one"
    # The default threshold: exactly the crops above it were sampled; the store names the prior it used.
    store = open_store(mesh_run)
    track = store.track(store.track_ids[0])
    np.testing.assert_array_equal(track["sampled"], track["uncertainty"] > PolicyConfig().uncertainty_threshold)
    assert store.attrs["models"]["spread_prior"].startswith("mega_anny/spread_prior.npz sha256:")


def test_models_without_a_spread_prior_name_the_fix(
    person_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mocap.mesh.models import LIFTER, MEGA, TOKENIZER, models_dir

    for name in (TOKENIZER, MEGA, LIFTER):  # a training run's folder: networks, but no prior fitted yet
        (tmp_path / "models" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(models_dir() / name, tmp_path / "models" / name)
    monkeypatch.setenv("MOCAP_MODELS_DIR", str(tmp_path / "models"))
    assert main(["run", str(person_clip), "-o", str(tmp_path / "o.zarr"), "--no-progress"]) == 4
    assert "spread_prior.npz" in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()


def test_train_spread_fits_a_prior_the_mesh_stage_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mocap.mega.rendered import RenderedExamples
    from mocap.mesh.spread import SpreadPrior

    rng = np.random.default_rng(0)
    m = 6  # detector-like crops: a standing figure's landmarks with noise, visible, with world landmarks
    cond = np.zeros((m, 33, 6), np.float32)
    cond[..., 0] = rng.uniform(-0.3, 0.3, (m, 33))
    cond[..., 1] = np.linspace(-0.8, 0.8, 33) + rng.normal(0, 0.05, (m, 33))
    cond[..., 2] = 1.0
    cond[..., 3:] = rng.normal(0, 0.3, (m, 33, 3))
    shard = RenderedExamples(
        cond=cond,
        ids=np.zeros((m, 54), np.int64),
        rotation_6d=np.tile(np.array([1, 0, 0, 0, 1, 0], np.float32), (m, 1)),
        keypoints_canonical_m=np.zeros((m, 33, 3), np.float32),
        keypoints_crop=np.zeros((m, 33, 3), np.float32),
    )
    (tmp_path / "renders").mkdir()
    shard.save(tmp_path / "renders" / "clip_00000.npz")
    out = tmp_path / "prior.npz"
    argv = ["train", "spread", "--renders", str(tmp_path / "renders"), "--out", str(out), "--every", "1"]
    assert main([*argv, "--samples", "2"]) == 0
    assert '"crops": 6' in capsys.readouterr().out
    prior = SpreadPrior.load(out)
    assert prior.pattern.shape == (13718,) and np.all(prior.pattern > 0)
    assert main([*argv, "--samples", "1"]) == 5  # one sample has no spread
    assert main([*argv[:-4], "--out", str(tmp_path / "prior"), "--every", "1"]) == 5  # not an .npz


@pytest.mark.parametrize(
    "flag", [("--sample-above", "1.5"), ("--samples", "-1"), ("--refine", "-2"), ("--mirror-above", "-0.1")]
)
def test_bad_policy_flags_name_the_range(
    flag: tuple[str, str], person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(person_clip), "-o", str(tmp_path / "o.zarr"), "--no-progress", *flag]) == 5
    assert flag[0] in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()


def test_export_bvh_and_npz_from_a_mesh_run(mesh_run: Path, tmp_path: Path) -> None:
    import bvhio

    bvh, npz = tmp_path / "walk.bvh", tmp_path / "walk.npz"
    assert main(["export", str(mesh_run), "--format", "bvh", "-o", str(bvh)]) == 0
    assert main(["export", str(mesh_run), "--format", "npz", "-o", str(npz)]) == 0
    root = bvhio.readAsHierarchy(str(bvh))
    assert len(root.Keyframes) == len(open_store(mesh_run).track(1).frame_index)
    assert np.load(npz)["pose_rotmat"].shape[1:] == (104, 3, 3)


def test_a_walker_hidden_for_over_a_second_keeps_their_id(tmp_path: Path) -> None:
    """samples/two_people_crossing.mp4: the far walker is hidden behind the near one for 35 frames, longer than the
    tracker keeps a lost box; their clothes give them back their id (re-identification), so two people give two
    tracks, each the same ground-truth person throughout."""
    root = Path(__file__).resolve().parents[1] / "samples"
    store_path = tmp_path / "crossing.zarr"
    assert (
        main(["run", str(root / "two_people_crossing.mp4"), "-o", str(store_path), "--no-progress", "--no-mesh"]) == 0
    )
    store, truth = open_store(store_path), open_store(root / "two_people_crossing.gt.zarr")
    assert store.track_ids == [1, 2]
    hidden = store.track(2, names=["xyxy_px"]).frame_index
    assert hidden.min() < 41 and hidden.max() > 76 and not np.isin(np.arange(45, 70), hidden).any()
    for track_id in store.track_ids:  # each track stays on one person: its landmarks nearest that person's
        track = store.track(track_id, names=["landmarks_px"])
        miss = []
        for person_id in truth.track_ids:
            person = truth.track(person_id)
            rows = np.searchsorted(person.frame_index, track.frame_index)
            gap = track["landmarks_px"][..., :2] - person["landmarks_px"][rows][..., :2]  # (n, 33, 2)
            miss.append(np.nanmean(np.linalg.norm(gap, axis=-1), axis=1))
        assert len(set(np.argmin(np.stack(miss), axis=0).tolist())) == 1, f"track {track_id} changed person"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_this_machine_lacks_is_a_clear_error_before_anything_is_written(
    person_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(person_clip), "-o", str(tmp_path / "o.zarr"), "--no-progress", "--device", "cuda"]) == 5
    err = capsys.readouterr().err
    assert "--device cpu" in err and "CUDA" in err
    assert not (tmp_path / "o.zarr").exists()


def test_the_command_line_starts_without_torch() -> None:
    """Every `mocap` command builds the whole parser first; heavy imports wait for the command that needs them
    (torch and the renderer cost ~3 s, which `mocap info` and `mocap --help` paid before)."""
    import subprocess
    import sys

    code = "import sys; from mocap.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_train_lifter_ensemble_joins_lifters_with_their_recipes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from mocap.lifter.model import JointLifter, LifterConfig, LifterEnsemble, load_lifter, save_lifter

    for seed in range(2):
        torch.manual_seed(seed)
        save_lifter(JointLifter(LifterConfig(width=16, blocks=1)), tmp_path / f"l{seed}.pt", {"recipe": {"seed": seed}})
    out = tmp_path / "new_folder" / "ensemble.pt"  # made when missing
    assert main(["train", "lifter-ensemble", str(tmp_path / "l0.pt"), str(tmp_path / "l1.pt"), "--out", str(out)]) == 0
    assert '"members": 2' in capsys.readouterr().out
    assert isinstance(load_lifter(out), LifterEnsemble)
    metadata = torch.load(out, weights_only=True)["metadata"]
    assert [member["recipe"]["seed"] for member in metadata["members"]] == [0, 1]
    save_lifter(JointLifter(LifterConfig(width=16, blocks=1)), tmp_path / "l2.pt", {"recipe": {"seed": 2}})
    grown = tmp_path / "grown.pt"  # an ensemble and one more network: one flat list, a recipe per network
    assert main(["train", "lifter-ensemble", str(out), str(tmp_path / "l2.pt"), "--out", str(grown)]) == 0
    metadata = torch.load(grown, weights_only=True)["metadata"]
    assert len(load_lifter(grown).members) == 3 and [m["recipe"]["seed"] for m in metadata["members"]] == [0, 1, 2]
    assert metadata["ensemble_of"] == [str(tmp_path / f"l{seed}.pt") for seed in range(3)]
    small = tmp_path / "int8.pt"  # one file that is an ensemble already, stored again with int8 blocks
    assert main(["train", "lifter-ensemble", str(grown), "--out", str(small), "--precision", "int8"]) == 0
    saved = torch.load(small, weights_only=True)
    assert len(saved["members"]) == 3 and all(
        m["int8"]["blocks.0.1.weight"].dtype == torch.int8 for m in saved["members"]
    )
    assert saved["metadata"]["members"] == metadata["members"] and len(load_lifter(small).members) == 3
    assert main(["train", "lifter-ensemble", str(tmp_path / "l0.pt"), "--out", str(out)]) == 5  # one is no ensemble
    assert main(["train", "lifter-ensemble", str(tmp_path / "l0.pt"), str(tmp_path / "absent.pt"), "--out", str(out)])


def test_train_world_model_fits_renders_and_the_lifter_refuses_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from mocap.lifter.world_model import load_world_model
    from tests.lifter.test_world_model import flattening_detector_shard

    renders = tmp_path / "renders"
    renders.mkdir()
    for clip in range(3):
        flattening_detector_shard(200, seed=clip).save(renders / f"clip_{clip:05d}.npz")
    out = tmp_path / "models" / "world.pt"
    args = ["train", "world-model", "--renders", str(renders), "--out", str(out), "--steps", "20", "--held-out", "0.4"]
    assert main(args) == 0
    assert '"model_vs_mediapipe_mm"' in capsys.readouterr().out
    metadata = torch.load(out, weights_only=True)["metadata"]
    assert metadata["recipe"]["steps"] == 20 and metadata["metrics"]["rows_held_out"] == 480
    assert load_world_model(out).residual_cholesky_m.abs().sum() > 0
    assert main([*args[:-2], "--held-out", "1.5"]) == 5
    lifter = ["train", "lifter", "--renders", str(renders), "--out", str(tmp_path / "run")]
    assert main([*lifter, "--world-model", str(tmp_path / "absent.pt")]) == 4  # before reading any renders
    assert not (tmp_path / "run").exists()
