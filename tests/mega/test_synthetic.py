from __future__ import annotations

import torch

from mocap.body.rotations import rotation_6d_to_matrix
from mocap.mega.geometry import weak_perspective_project
from mocap.mega.synthetic import (
    BODY_PARTS,
    LandmarkSynthesis,
    random_rotations,
    synthesize_landmarks,
    uniform_rotations,
)


def canonical_landmarks(batch: int) -> torch.Tensor:
    """Stick-figure-like landmarks: a 1.7 m tall, 0.4 m wide point cloud, z up, centred."""
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(batch, 33, 3, generator=generator) - 0.5
    points *= torch.tensor([0.4, 0.25, 1.7])
    return points - points.mean(dim=1, keepdim=True)


def test_shapes_and_targets_are_consistent() -> None:
    points = canonical_landmarks(5)
    batch = synthesize_landmarks(torch.zeros(5, 54, dtype=torch.long), points, torch.Generator().manual_seed(1))
    assert batch.cond is not None and batch.cond.shape == (5, 33, 6)
    assert batch.rotation_6d is not None and batch.keypoints_crop is not None
    R = rotation_6d_to_matrix(batch.rotation_6d)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.equal(batch.keypoints_crop[..., 2], torch.ones(5, 33))
    visibility = batch.cond[..., 2]
    assert ((visibility >= 0) & (visibility <= 1)).all()


def test_clean_setting_reproduces_the_projection() -> None:
    clean = LandmarkSynthesis(
        noise_std=0, outlier_prob=0, occlusion_prob=0, part_occlusion_prob=0, self_occlusion_prob=0,
        world_noise_m=0, shift_std=0, fill=(0.8, 0.8),
    )  # fmt: skip
    points = canonical_landmarks(4)
    batch = synthesize_landmarks(torch.zeros(4, 54, dtype=torch.long), points, torch.Generator().manual_seed(2), clean)
    assert batch.cond is not None and batch.keypoints_crop is not None and batch.rotation_6d is not None
    assert torch.allclose(batch.cond[..., :2], batch.keypoints_crop[..., :2])
    assert (batch.cond[..., 2] >= 0.75).all(), "nothing occluded or truncated"
    xy = batch.keypoints_crop[..., :2]
    extent = (xy.amax(1) - xy.amin(1)).amax(1)
    assert torch.allclose(extent, torch.full((4,), 1.6), atol=1e-5)  # fill 0.8 of the 2-unit crop
    assert torch.allclose((xy.amax(1) + xy.amin(1)) / 2, torch.zeros(4, 2), atol=1e-5)  # centred
    R = rotation_6d_to_matrix(batch.rotation_6d)
    hips = (points @ R.transpose(1, 2))[:, [23, 24]].mean(1, keepdim=True)
    assert torch.allclose(batch.cond[..., 3:], points @ R.transpose(1, 2) - hips, atol=1e-5)


def test_upright_person_keeps_head_up_in_the_image() -> None:
    config = LandmarkSynthesis(yaw_deg=0, pitch_deg=0, roll_deg=0)
    R = random_rotations(1, config, torch.Generator())
    head_up = R[0] @ torch.tensor([0.0, 0.0, 1.0])  # Anny's +z
    assert torch.allclose(head_up, torch.tensor([0.0, -1.0, 0.0]))  # image y points down


def test_tumbling_turns_bodies_upside_down_and_leaves_the_rest_alone() -> None:
    up = torch.tensor([0.0, 0.0, 1.0])  # Anny's +z; in the camera frame, head up is y < 0
    upright = random_rotations(2000, LandmarkSynthesis(), torch.Generator().manual_seed(0)) @ up
    assert (upright[:, 1] < -0.8).all(), "pitch 25 and roll 12 degrees at most"
    tumbled = random_rotations(2000, LandmarkSynthesis(tumble_fraction=0.3), torch.Generator().manual_seed(0)) @ up
    upside_down = (tumbled[:, 1] > 0).float().mean()
    assert 0.1 < upside_down < 0.2  # half of the tumbled 30 %
    R = uniform_rotations(4000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(R @ R.mT, torch.eye(3).expand(4000, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(R), torch.ones(4000), atol=1e-5)
    torch.testing.assert_close((R @ up).mean(0), torch.zeros(3), atol=0.04, rtol=0)  # no preferred direction


def test_occlusion_and_truncation_lower_visibility() -> None:
    points = canonical_landmarks(6)
    hidden = synthesize_landmarks(
        torch.zeros(6, 54, dtype=torch.long),
        points,
        torch.Generator().manual_seed(3),
        LandmarkSynthesis(occlusion_prob=1.0),
    )
    assert hidden.cond is not None and (hidden.cond[..., 2] < 0.5).all()
    zoomed = LandmarkSynthesis(
        fill=(2.0, 2.0), occlusion_prob=0, part_occlusion_prob=0, self_occlusion_prob=0, shift_std=0
    )
    cut = synthesize_landmarks(torch.zeros(6, 54, dtype=torch.long), points, torch.Generator().manual_seed(4), zoomed)
    assert cut.cond is not None and cut.keypoints_crop is not None
    outside = (cut.keypoints_crop[..., :2].abs() > 1).any(-1)
    assert outside.any() and (cut.cond[..., 2][outside] < 0.3).all() and (cut.cond[..., 2][~outside] >= 0.75).all()


def test_part_occlusion_hides_whole_groups() -> None:
    config = LandmarkSynthesis(
        part_occlusion_prob=1.0, occlusion_prob=0, self_occlusion_prob=0, fill=(0.5, 0.5), shift_std=0
    )
    batch = synthesize_landmarks(
        torch.zeros(32, 54, dtype=torch.long), canonical_landmarks(32), torch.Generator(), config
    )
    assert batch.cond is not None
    low = batch.cond[..., 2] < 0.5  # (32, 33)
    for row in low:
        hidden = set(torch.nonzero(row).flatten().tolist())
        assert any(hidden == set(group) for group in BODY_PARTS)


def test_camera_projection_matches_keypoints() -> None:
    points = canonical_landmarks(3)
    batch = synthesize_landmarks(torch.zeros(3, 54, dtype=torch.long), points, torch.Generator().manual_seed(5))
    assert batch.rotation_6d is not None and batch.keypoints_crop is not None
    R = rotation_6d_to_matrix(batch.rotation_6d)
    # solve the camera back from two points and check a third: the 2-D layout is an affine image of R X
    cam_points = points @ R.transpose(1, 2)
    xy = batch.keypoints_crop[..., :2]
    scale = (xy[:, 1] - xy[:, 0]).norm(dim=-1) / (cam_points[:, 1, :2] - cam_points[:, 0, :2]).norm(dim=-1)
    shift = xy[:, 0] / scale[:, None] - cam_points[:, 0, :2]
    camera = torch.cat([scale[:, None], shift], dim=1)
    assert torch.allclose(weak_perspective_project(cam_points, camera), xy, atol=1e-4)


def test_the_far_side_of_the_body_is_self_occluded() -> None:
    # A body seen from its side (yaw 90 deg): one shoulder is 0.4 m behind the other.
    points = torch.zeros(1, 33, 3)
    points[0, 11, 0], points[0, 12, 0] = 0.2, -0.2  # left / right shoulder along Anny's x
    config = LandmarkSynthesis(
        yaw_deg=0, pitch_deg=0, roll_deg=0, occlusion_prob=0, part_occlusion_prob=0, self_occlusion_prob=1.0,
        canonical_to_camera=((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)),  # Anny +x -> camera -z
    )  # fmt: skip
    batch = synthesize_landmarks(torch.zeros(1, 54, dtype=torch.long), points, torch.Generator(), config)
    assert batch.cond is not None
    visibility = batch.cond[0, :, 2]
    assert visibility[12] < 0.5 and visibility[11] >= 0.75  # the right shoulder is the far one
