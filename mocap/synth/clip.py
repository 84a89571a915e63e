"""Synthetic clips with exact ground truth: Anny bodies driven by mocap, rendered to H.264, truth to zarr.

A :class:`Synthesizer` takes one :class:`Performance` per person (Anny default-rig pose
parameters at the clip's frame rate), stages the people so that walkers cross in front of the
camera, grounds them on the floor, moves a gently swaying camera that keeps them in frame, and
writes, frame by frame, the rendered image to the video and a :class:`~mocap.types.FrameResult`
of ground truth to a run store (see :mod:`mocap.synth.groundtruth` for the fields). Everything
random is drawn from ``SynthConfig.seed``: the same seed and performances give the same bytes
of ground truth and the same frames.

Example:
    >>> synth = Synthesizer(SynthConfig(people=1, seconds=2.0, seed=3))  # doctest: +SKIP
    >>> synth.synthesize([performance], Path("clip.mp4"), Path("clip.gt.zarr"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.anny_body import AnnyBody, random_phenotypes
from mocap.errors import ConfigError
from mocap.io.store import StoreWriter
from mocap.io.video_writer import VideoWriter
from mocap.synth.camera import intrinsics_from_fov, look_at, project_points, world_to_camera
from mocap.synth.config import SynthConfig
from mocap.synth.groundtruth import PeopleFrame, frame_result
from mocap.synth.render import Renderer
from mocap.synth.scene import Appearance, body_part_labels, random_appearance, vertex_colors
from mocap.synth.staging import camera_path, place, stage_people

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

# Independent random streams per purpose: changing how one is used leaves the others' draws alone.
_PHENOTYPE, _APPEARANCE, _STAGING, _CAMERA = range(4)


@dataclass(frozen=True, eq=False)
class Performance:
    """What one person does over the clip, in Anny's default rig.

    Attributes:
        name: where it comes from (e.g. ``cmu/143_04``), recorded in the store.
        pose_rotmat: (T, J, 3, 3) local rotations (``mocap.body`` convention; index 0 = global orientation).
        transl_m: (T, 3) world position of the root joint, metres, z up.
        licence: the source's licence, recorded in the store.
    """

    name: str
    pose_rotmat: FloatArray
    transl_m: FloatArray
    licence: str = ""

    def __len__(self) -> int:
        return int(self.pose_rotmat.shape[0])


@dataclass
class SynthReport:
    """What :meth:`Synthesizer.synthesize` made and how long it took."""

    video_path: Path
    store_path: Path
    num_frames: int
    num_people: int
    seconds_total: float = 0.0
    seconds_rendering: float = 0.0
    people: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class _Person:
    """One staged, posed person over the whole clip (world frame)."""

    performance: Performance
    phenotype: npt.NDArray[np.float32]  # (6,)
    appearance: Appearance
    pose_rotmat: npt.NDArray[np.float32]  # (T, J, 3, 3) with the staged root orientation
    transl_m: FloatArray  # (T, 3) staged and grounded root positions
    vertices_m: npt.NDArray[np.float32]  # (T, V, 3)
    joints_m: npt.NDArray[np.float32]  # (T, J, 3)
    landmarks_m: npt.NDArray[np.float32]  # (T, 33, 3)


class Synthesizer:
    """Renders performances into a video plus a ground-truth store.

    Args:
        config: clip settings and seed.
        body: the Anny body (default rig) to pose; built on first use when None.
    """

    def __init__(self, config: SynthConfig, body: AnnyBody | None = None) -> None:
        self.config = config
        self.body = body or AnnyBody("default")
        if self.body.rig != "default":
            raise ConfigError(f"synthetic clips pose Anny's default rig (performances use it), not {self.body.rig!r}")
        self._labels = body_part_labels(self.body.model)  # (V,) paint labels

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, stream])

    def _pose(self, performances: Sequence[Performance]) -> list[_Person]:
        """Stage, pose and ground every person over the whole clip."""
        frames = self.config.num_frames
        phenotypes = random_phenotypes(len(performances), self._rng(_PHENOTYPE))
        looks = self._rng(_APPEARANCE)
        staging = stage_people([np.asarray(p.transl_m[:frames], np.float64) for p in performances], self._rng(_STAGING))
        people = []
        for performance, phenotype, (yaw, centre) in zip(performances, phenotypes, staging, strict=True):
            pose = np.array(performance.pose_rotmat[:frames], np.float64)
            transl, pose[:, 0] = place(np.asarray(performance.transl_m[:frames], np.float64), pose[:, 0], yaw, centre)
            pose_t = torch.as_tensor(pose, dtype=torch.float32)
            with torch.no_grad():
                out = self.body.forward(pose_t, torch.as_tensor(phenotype)[None], torch.as_tensor(transl))
                landmarks = self.body.landmarks(out.vertices_m)
            # Stand on the floor: the lowest vertex over the clip touches z = 0 (jumps stay in the air).
            lift = -float(out.vertices_m[..., 2].min())
            shift = torch.tensor([0.0, 0.0, lift])
            people.append(
                _Person(
                    performance=performance,
                    phenotype=phenotype,
                    appearance=random_appearance(looks),
                    pose_rotmat=pose_t.numpy(),
                    transl_m=transl + np.array([0.0, 0.0, lift]),
                    vertices_m=(out.vertices_m + shift).numpy(),
                    joints_m=(out.joints_m + shift).numpy(),
                    landmarks_m=(landmarks + shift).numpy(),
                )
            )
        return people

    def _cameras(self, people: list[_Person]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """K (3, 3), R (T, 3, 3), t (T, 3) for the clip."""
        rng = self._rng(_CAMERA)
        fov = float(rng.uniform(*self.config.fov_y_deg))
        height = float(rng.uniform(*self.config.camera_height_m))
        width, image_height = self.config.size_wh
        roots = np.stack([p.transl_m for p in people])  # (P, T, 3)
        eye, target = camera_path(
            roots, fov, width / image_height, rng, self.config.fps, height, self.config.camera_sway_m
        )
        rotation, translation = look_at(eye, target)
        return intrinsics_from_fov(fov, self.config.size_wh), rotation, translation

    def synthesize(
        self,
        performances: Sequence[Performance],
        video_path: Path,
        store_path: Path,
        *,
        overwrite: bool = False,
        on_frame: Callable[[int], None] | None = None,
    ) -> SynthReport:
        """Render the clip to ``video_path`` (H.264) and its ground truth to ``store_path`` (zarr).

        Args:
            performances: one per person, each at least ``config.num_frames`` long at ``config.fps``.
            video_path: the video to write.
            store_path: the ground-truth store to write (``clip.gt.zarr`` beside the video, by convention).
            overwrite: replace an existing store (never a folder that is not a mocap store).
            on_frame: called with each frame index once it is written (progress display).
        """
        config = self.config
        if len(performances) != config.people:
            raise ConfigError(f"config asks for {config.people} people but {len(performances)} performances came")
        if short := [p.name for p in performances if len(p) < config.num_frames]:
            raise ConfigError(
                f"performances {short} are shorter than {config.num_frames} frames: ask for fewer --seconds"
            )
        started = time.perf_counter()
        people = self._pose(performances)
        intrinsics, rotation, translation = self._cameras(people)
        colors = np.stack([vertex_colors(self._labels, p.appearance) for p in people])  # (P, V, 3)
        report = SynthReport(video_path, store_path, config.num_frames, len(people), people=_describe(people))
        attrs = {"config": dataclasses.asdict(config), "synthetic": {"seed": config.seed, "people": report.people}}
        store = StoreWriter(store_path, mode="overwrite" if overwrite else "create", attrs=attrs)
        store.set_source(
            {
                "kind": "synthetic",
                "path": str(video_path),
                "fps": config.fps,
                "size_wh": list(config.size_wh),
                "num_frames": config.num_frames,
                "codec": "h264",
                "rotation": 0,
                "intrinsics": intrinsics,
            }
        )
        video = VideoWriter(video_path, config.fps, config.size_wh, crf=config.crf)
        with store, video, Renderer(config.size_wh, self.body.faces) as renderer:
            for index in range(config.num_frames):
                R, t = rotation[index], translation[index]
                vertices = np.stack([p.vertices_m[index] for p in people])  # (P, V, 3) world
                tic = time.perf_counter()
                rendering = renderer.render(vertices, colors, intrinsics, R, t)
                report.seconds_rendering += time.perf_counter() - tic
                truth = _people_frame(people, index, intrinsics, R, t)
                video.write(rendering.image_rgb)
                result = frame_result(index, index / config.fps, config.size_wh, truth, rendering.depth_m)
                if not config.store_vertices:
                    del result.track_fields["vertices_cam_m"]
                store.write(result)
                if on_frame is not None:
                    on_frame(index)
        report.seconds_total = time.perf_counter() - started
        log.info(
            "synthesised %d frames of %d people in %.1f s (%.1f s rendering)",
            report.num_frames,
            report.num_people,
            report.seconds_total,
            report.seconds_rendering,
        )
        return report


def _people_frame(
    people: list[_Person], index: int, intrinsics: FloatArray, rotation: FloatArray, translation_m: FloatArray
) -> PeopleFrame:
    """Frame ``index`` of every person, moved into the camera frame and projected."""
    count = len(people)
    Rs, ts = np.broadcast_to(rotation, (count, 3, 3)), np.broadcast_to(translation_m, (count, 3))

    def to_cam(points_world_m: FloatArray) -> FloatArray:
        return world_to_camera(points_world_m.astype(np.float64), Rs, ts)

    vertices_world = np.stack([p.vertices_m[index] for p in people])
    landmarks_world = np.stack([p.landmarks_m[index] for p in people])
    return PeopleFrame(
        person_id=np.arange(1, count + 1, dtype=np.int64),
        vertices_cam_m=to_cam(vertices_world),
        joints_cam_m=to_cam(np.stack([p.joints_m[index] for p in people])),
        landmarks_cam_m=to_cam(landmarks_world),
        landmarks_px=project_points(landmarks_world.astype(np.float64), intrinsics, Rs, ts),
        vertices_px=project_points(vertices_world.astype(np.float64), intrinsics, Rs, ts),
        pose_rotmat=np.stack([p.pose_rotmat[index] for p in people]),
        transl_world_m=np.stack([p.transl_m[index] for p in people]),
        phenotype=np.stack([p.phenotype for p in people]),
        intrinsics=intrinsics,
        rotation=rotation,
        translation_m=translation_m,
    )


def _describe(people: list[_Person]) -> list[dict[str, Any]]:
    """Per person: id, motion, licence, phenotype and colours, for the store's attrs."""
    return [
        {
            "person_id": i + 1,
            "motion": p.performance.name,
            "licence": p.performance.licence,
            "phenotype": p.phenotype.tolist(),
            "appearance": dataclasses.asdict(p.appearance),
        }
        for i, p in enumerate(people)
    ]
