"""Mirror averaging (``mocap.mesh.mirror``): the maps, and the mesh stage's equivariance with the shipped models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch

from mocap.body.landmarks import regress_landmarks
from mocap.body.rotations import axis_angle_to_matrix
from mocap.body.symmetry import LANDMARK_MIRROR, load_vertex_mirror
from mocap.detect.mirror import flip_boxes_px, flip_landmarks_px
from mocap.mega.geometry import weak_perspective_project
from mocap.mesh.crop import default_intrinsics
from mocap.mesh.mirror import (
    average_twins,
    average_with_mirror,
    mean_rotation,
    mirror_camera,
    mirror_crops,
    mirror_landmarks,
    mirror_rotation,
    mirror_vertices,
)
from mocap.mesh.models import MeshModels
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.stage import MeshEstimator
from mocap.types import Crops, MirrorView, Tracks


@pytest.fixture(scope="module")
def models() -> Iterator[MeshModels]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield MeshModels.load_default()
    torch.set_num_threads(threads)


def random_answer(models: MeshModels, n: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Canonical meshes of random tokens (n, V, 3), random rotations (n, 3, 3) and crop cameras (n, 3)."""
    generator = torch.Generator().manual_seed(seed)
    tokenizer = models.tokenizer
    ids = torch.randint(0, tokenizer.vq_vae.codebook.shape[0], (n, tokenizer.num_tokens), generator=generator)
    with torch.no_grad():
        vertices = tokenizer.decode(ids)
    rotation = axis_angle_to_matrix(torch.randn(n, 3, generator=generator))
    camera = torch.tensor([1.0, 0.0, 0.0]) + 0.1 * torch.randn(n, 3, generator=generator)
    return vertices, rotation, camera


def test_every_map_is_its_own_inverse(models: MeshModels) -> None:
    vertices, rotation, camera = random_answer(models)
    mirror = torch.from_numpy(load_vertex_mirror())
    torch.testing.assert_close(mirror_vertices(mirror_vertices(vertices, mirror), mirror), vertices)
    torch.testing.assert_close(mirror_rotation(mirror_rotation(rotation)), rotation)
    torch.testing.assert_close(mirror_camera(mirror_camera(camera)), camera)
    landmarks = np.random.default_rng(0).normal(size=(2, 33, 3)).astype(np.float32)
    np.testing.assert_array_equal(mirror_landmarks(mirror_landmarks(landmarks)), landmarks)
    assert torch.allclose(torch.linalg.det(mirror_rotation(rotation)), torch.ones(3), atol=1e-5)


def test_the_mirrored_answer_projects_onto_the_mirror_image(models: MeshModels) -> None:
    """Frames agree: the mirrored (mesh, rotation, camera) projects to the crop landmarks seen in a mirror."""
    vertices, rotation, camera = random_answer(models)
    mirror = torch.from_numpy(load_vertex_mirror())

    def crop_landmarks(v: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> np.ndarray:
        xy = weak_perspective_project(regress_landmarks(v) @ r.transpose(1, 2), c)
        return torch.cat([xy, torch.ones(*xy.shape[:2], 1)], dim=-1).numpy()

    seen = crop_landmarks(vertices, rotation, camera)
    in_mirror = crop_landmarks(mirror_vertices(vertices, mirror), mirror_rotation(rotation), mirror_camera(camera))
    np.testing.assert_allclose(in_mirror, mirror_landmarks(seen), atol=1e-5)
    assert not np.allclose(seen, mirror_landmarks(seen), atol=1e-2), "a random body is not its own mirror image"


def test_averaging_an_answer_with_its_exact_mirror_gives_it_back(models: MeshModels) -> None:
    vertices, rotation, camera = random_answer(models)
    mirror = torch.from_numpy(load_vertex_mirror())
    twin = (mirror_vertices(vertices, mirror), mirror_rotation(rotation), mirror_camera(camera))
    for got, want in zip(
        average_with_mirror(vertices, rotation, camera, twin, mirror), (vertices, rotation, camera), strict=True
    ):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_mean_rotation_halves_the_angle_between_two_rotations() -> None:
    axis = torch.nn.functional.normalize(torch.tensor([[0.3, -1.0, 0.5]]), dim=-1)
    base = axis_angle_to_matrix(torch.tensor([[0.2, 0.4, -1.0]]))
    a, b = base @ axis_angle_to_matrix(0.2 * axis), base @ axis_angle_to_matrix(1.0 * axis)
    torch.testing.assert_close(mean_rotation(a, b), base @ axis_angle_to_matrix(0.6 * axis), atol=1e-5, rtol=1e-5)


def test_mirror_crops_mirrors_only_the_landmarks() -> None:
    rng = np.random.default_rng(1)
    crops = Crops(
        np.array([4, 7]),
        rng.uniform(100, 300, (2, 2)),
        np.array([200.0, 150.0]),
        rng.uniform(-1, 1, (2, 33, 3)).astype(np.float32),
        rng.normal(size=(2, 33, 3)).astype(np.float32),
    )
    twins = mirror_crops(crops)
    np.testing.assert_array_equal(twins.track_id, crops.track_id)
    np.testing.assert_array_equal(twins.center_px, crops.center_px)
    np.testing.assert_array_equal(twins.landmarks_crop[:, 12, 0], -crops.landmarks_crop[:, 11, 0])
    np.testing.assert_array_equal(twins.landmarks_crop[:, 12, 1:], crops.landmarks_crop[:, 11, 1:])
    np.testing.assert_array_equal(twins.landmarks_world_m[:, LANDMARK_MIRROR], crops.landmarks_world_m * [-1, 1, 1])
    assert mirror_crops(twins) == crops


def mirrored_tracks(tracks: Tracks, width: int) -> Tracks:
    """The same people in the horizontally flipped image (pixel x -> width - x, left <-> right)."""
    return replace(
        tracks,
        xyxy_px=flip_boxes_px(tracks.xyxy_px, width),
        landmarks_px=flip_landmarks_px(tracks.landmarks_px, width),
        landmarks_world_m=mirror_landmarks(tracks.landmarks_world_m),
    )


def two_people(models: MeshModels, width: int = 640, height: int = 480) -> Tracks:
    """Two people as a perfect detector sees them: landmarks of random posed meshes 4 and 6 m from the camera."""
    vertices, rotation, _ = random_answer(models, n=2, seed=3)
    intrinsics = default_intrinsics((width, height))
    landmarks_cam = regress_landmarks(vertices) @ rotation.transpose(1, 2) + torch.tensor([[[0.8, 0.2, 4.0]]])
    landmarks_cam[1] += torch.tensor([-2.0, 0.0, 2.0])
    uv = landmarks_cam[..., :2] / landmarks_cam[..., 2:] * intrinsics[0, 0] + torch.from_numpy(intrinsics[:2, 2])
    landmarks_px = torch.cat([uv, torch.ones(2, 33, 1)], dim=-1).numpy().astype(np.float32)
    world = (landmarks_cam - landmarks_cam[:, [23, 24]].mean(1, keepdim=True)).numpy().astype(np.float32)
    box = np.concatenate([uv.min(1).values.numpy(), uv.max(1).values.numpy()], axis=1).astype(np.float32)
    return Tracks(
        np.array([1, 2]), np.zeros(2, np.int8), np.zeros(2, np.int32), np.arange(2), box, np.ones(2, np.float32),
        landmarks_px, world,
    )  # fmt: skip


def test_the_mesh_stage_sees_a_mirrored_video_as_the_mirror_image(models: MeshModels) -> None:
    """Averaging every crop, the answer for a flipped frame is exactly the flipped answer, whatever MEGA learnt;
    averaging none, MEGA's own (learnt, hence imperfect) symmetry is all there is."""
    width = 640
    intrinsics = default_intrinsics((width, 480))
    tracks = two_people(models, width)
    mirror = torch.from_numpy(load_vertex_mirror())
    answers = {}
    for averaged in (True, False):
        estimator = MeshEstimator(models, PolicyConfig(num_samples=0, mirror_threshold=0.0 if averaged else 1.0))
        seen = estimator.estimate(tracks, intrinsics).meshes.vertices_cam_m
        flipped = estimator.estimate(mirrored_tracks(tracks, width), intrinsics).meshes.vertices_cam_m
        answers[averaged] = seen
        miss = np.abs(mirror_vertices(torch.from_numpy(flipped), mirror).numpy() - seen).max()
        if averaged:
            assert miss < 1e-4, f"the flipped frame's mesh is {miss * 1000:.1f} mm off the flipped mesh"
        else:
            assert miss > 1e-3, "MEGA alone is not exactly symmetric"
    assert not np.allclose(answers[True], answers[False], atol=1e-3)


def test_a_mirror_view_is_averaged_whatever_the_uncertainty(models: MeshModels) -> None:
    """With the flipped frame's measurement every crop is averaged with MEGA's answer for it (threshold 1 averages
    nothing else): a detector that saw the same in both frames gives exactly the flip-equivariant answer, and
    a person the flipped frame missed keeps MEGA's own."""
    width = 640
    intrinsics = default_intrinsics((width, 480))
    tracks = two_people(models, width)
    mirror = torch.from_numpy(load_vertex_mirror())
    # Without the steady size: every call below re-estimates the same two tracks, which would tie each to the last.
    estimator = MeshEstimator(models, PolicyConfig(num_samples=0, mirror_threshold=1.0, steady_size=False))
    view = MirrorView(tracks.landmarks_px, tracks.landmarks_world_m)  # a perfect detector, both frames
    seen = estimator.estimate(tracks, intrinsics, mirror=view).meshes.vertices_cam_m
    flipped_tracks = mirrored_tracks(tracks, width)
    flipped_view = MirrorView(flipped_tracks.landmarks_px, flipped_tracks.landmarks_world_m)
    flipped = estimator.estimate(flipped_tracks, intrinsics, mirror=flipped_view).meshes.vertices_cam_m
    miss = np.abs(mirror_vertices(torch.from_numpy(flipped), mirror).numpy() - seen).max()
    assert miss < 1e-4, f"the flipped frame's mesh is {miss * 1000:.1f} mm off the flipped mesh"
    averaged_everywhere = MeshEstimator(models, PolicyConfig(num_samples=0, mirror_threshold=0.0, steady_size=False))
    np.testing.assert_allclose(seen, averaged_everywhere.estimate(tracks, intrinsics).meshes.vertices_cam_m, atol=1e-5)
    # The flipped frame missed person 2: person 1 is averaged as before, person 2 gets MEGA's answer alone.
    half = MirrorView(view.landmarks_px.copy(), view.landmarks_world_m.copy())
    half.landmarks_px[1] = half.landmarks_world_m[1] = np.nan
    partly = estimator.estimate(tracks, intrinsics, mirror=half).meshes.vertices_cam_m
    alone = estimator.estimate(tracks, intrinsics).meshes.vertices_cam_m
    np.testing.assert_allclose(partly[0], seen[0], atol=1e-5)
    np.testing.assert_allclose(partly[1], alone[1], atol=1e-5)
    assert not np.allclose(seen[1], alone[1], atol=1e-3)


def test_average_twins_asks_for_the_right_twins(models: MeshModels) -> None:
    """Which landmarks each averaged row's twin is made of: the flipped frame's where it measured the person,
    else the crop's own when the crop is doubtful; nobody else is asked for."""
    rng = np.random.default_rng(4)
    n = 4
    crops = Crops(
        np.arange(n), rng.uniform(100, 300, (n, 2)), np.full(n, 200.0),
        rng.uniform(-1, 1, (n, 33, 3)).astype(np.float32), rng.normal(size=(n, 33, 3)).astype(np.float32),
    )  # fmt: skip
    seen_mirrored = replace(
        crops,
        landmarks_crop=rng.uniform(-1, 1, (n, 33, 3)).astype(np.float32),
        landmarks_world_m=rng.normal(size=(n, 33, 3)).astype(np.float32),
    )
    seen_mirrored.landmarks_crop[[2, 3]] = np.nan  # the flipped frame had rows 0 and 1 only
    uncertainty = np.array([0.1, 0.9, 0.9, 0.1])  # row 2 is doubtful, row 3 confident
    answer = random_answer(models, n=n, seed=5)
    asked: list[Crops] = []

    def answer_for(twins: Crops) -> tuple[torch.Tensor, ...]:
        asked.append(twins)
        return tuple(part[: len(twins)] for part in random_answer(models, n=n, seed=6))

    vertices, _, _ = average_twins(
        crops, uncertainty, 0.5, answer, answer_for, torch.from_numpy(load_vertex_mirror()), seen_mirrored
    )
    (twins,) = asked
    np.testing.assert_array_equal(twins.track_id, [0, 1, 2])
    np.testing.assert_array_equal(mirror_crops(twins).landmarks_crop[:2], seen_mirrored.landmarks_crop[:2])
    np.testing.assert_array_equal(mirror_crops(twins).landmarks_world_m[2], crops.landmarks_world_m[2])
    torch.testing.assert_close(vertices[3], answer[0][3])  # confident, not measured twice: MEGA's own
    assert not torch.allclose(vertices[:3], answer[0][:3])
