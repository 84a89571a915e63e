"""End to end: a small synthetic clip, its video and its ground-truth store agree with each other."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mocap.io.store import open_store
from mocap.synth.camera import camera_to_pixels
from mocap.synth.clip import SynthConfig, Synthesizer
from mocap.synth.render import Renderer
from tests.synth.conftest import swing_performance

CONFIG = SynthConfig(people=2, seconds=0.2, fps=30.0, size_wh=(320, 240), seed=5)


def make_clip(body, directory: Path, config: SynthConfig = CONFIG) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    performances = [
        swing_performance(body, config.num_frames, 1.5, "walker"),
        swing_performance(body, config.num_frames, 0.0, "idle"),
    ]
    video, store = directory / "clip.mp4", directory / "clip.gt.zarr"
    Synthesizer(config, body).synthesize(performances, video, store)
    return video, store


def decode(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def clip(anny_body, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    return make_clip(anny_body, tmp_path_factory.mktemp("synth"))


def test_store_holds_every_frame_and_person(clip: tuple[Path, Path]) -> None:
    video, store_path = clip
    store = open_store(store_path)
    assert store.status == "complete" and store.num_frames == CONFIG.num_frames == len(decode(video))
    assert store.track_ids == [1, 2]
    track = store.track(1)
    assert track["vertices_cam_m"].dtype == np.float16 and track["vertices_cam_m"].shape == (6, 13718, 3)
    assert track["landmarks_px"].shape == (6, 33, 3) and track["pose_rotmat"].shape == (6, 104, 3, 3)
    np.testing.assert_array_equal(track["landmarks_px"][..., 2], track["landmarks_visible"])
    # MediaPipe-style world landmarks: camera axes, origin midway between the hips.
    np.testing.assert_allclose(track["landmarks_world_m"][:, 23:25].mean(axis=1), 0.0, atol=1e-6)


def test_ground_truth_lands_on_rendered_people(anny_body, clip: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    video, store_path = clip
    store = open_store(store_path)
    frames = decode(video)
    for index in (0, CONFIG.num_frames - 1):
        track = store.track(1)
        K = track["intrinsics"][index].astype(np.float64)
        R, t = track["rotation_world_to_cam"][index], track["translation_world_to_cam_m"][index]
        # The same camera over an empty scene gives the background: people are what differs in the video.
        with Renderer(CONFIG.size_wh, anny_body.faces) as renderer:
            empty = renderer.render(
                np.zeros((0, 13718, 3)), np.zeros((0, 13718, 3)), K, R.astype(np.float64), t.astype(np.float64)
            )
        person_mask = np.abs(frames[index].astype(int) - empty.image_rgb.astype(int)).max(axis=-1) > 24
        # H.264 blurs edges by a pixel or so: a vertex on the outline may fall just outside the changed pixels.
        person_mask = cv2.dilate(person_mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        for person in store.track_ids:
            vertices_px = camera_to_pixels(
                store.track(person)["vertices_cam_m"][index : index + 1].astype(np.float64), K
            )[0]
            inside = (vertices_px >= 0).all(axis=1) & (vertices_px < CONFIG.size_wh).all(axis=1)
            cols, rows = np.floor(vertices_px[inside]).T.astype(int)
            assert person_mask[rows, cols].mean() > 0.99
            box = store.track(person)["xyxy_px"][index]
            np.testing.assert_allclose(box[:2], np.clip(vertices_px.min(axis=0), 0, None), atol=0.5)


def test_same_seed_same_clip(anny_body, clip: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video, store_path = make_clip(anny_body, tmp_path)
    first, second = open_store(clip[1]), open_store(store_path)
    for person in first.track_ids:
        for name in first.fields(person):
            np.testing.assert_array_equal(first.track(person)[name], second.track(person)[name], err_msg=name)
    diff = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(decode(clip[0]), decode(video), strict=True)]
    assert max(diff) < 1.0


def test_other_seed_other_people(anny_body, clip: tuple[Path, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    _, store_path = make_clip(anny_body, tmp_path, replace(CONFIG, seed=6))
    a, b = open_store(clip[1]).track(1), open_store(store_path).track(1)
    assert not np.array_equal(a["phenotype"], b["phenotype"])
