"""The joint lifter: one crop's MediaPipe landmarks -> its 12 body joints in 3-D, hip-centred, camera orientation.

Why a second network beside MEGA: MEGA predicts 54 mesh tokens out of 512 codes each, and at the size this CPU
trained (1.6 M parameters, ~2.6 h) it is far from what the detector's landmarks allow: a residual MLP regressing
the 12 joints directly, trained in ~20 min on the same renders (plus synthetic crops of all train motions), misses
the truth by less than MEGA's mesh does (models/lifter_anny/MODEL_CARD.md). Its joints are one more estimate of the
body, with errors of their own, which the mesh stage fuses with MEGA's mesh (``mocap.mesh.fusion``): the mesh, its
tokens and its uncertainty stay MEGA's; its joints move toward the lifter's.

Input: (B, 33, 6) crop x, y in [-1, 1] (x right, y down), visibility, MediaPipe world x, y, z (hip-centred, metres),
exactly MEGA's conditioning. As MEGA's ``upright`` option does, the crop is first turned about the viewing axis so
that the torso points up, and the answer is turned back, so an upside-down body is read as an upright one.

A temporal lifter (``LifterConfig.window`` = T > 1) also reads the person's T - 1 frames before this one, (B, T, 33,
6) oldest first (:mod:`mocap.lifter.temporal` builds the windows): motion tells depth and left from right where one
frame cannot. Its motion branch is added to the per-frame embedding and starts at zero, so a temporal lifter
initialised from a single-frame one begins with exactly its answers.

Example:
    >>> lifter = load_lifter(Path("models/lifter_anny/lifter.pt"))  # doctest: +SKIP
    >>> joints_m = lift_joints(lifter, crops)  # (N, 12, 3)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.errors import ModelNotFoundError
from mocap.lifter.temporal import window_rows
from mocap.mega.conditioning import landmark_features
from mocap.mega.geometry import HIPS, turn_landmark_features, upright_angle, view_axis_rotation
from mocap.mesh.mirror import mirror_crops
from mocap.types import Crops

NUM_JOINTS = len(BODY_JOINTS)
# Index of each body joint's mirror image among the 12 (left <-> right), and of the two hips.
JOINT_MIRROR = tuple(BODY_JOINTS.index(int(LANDMARK_MIRROR[j])) for j in BODY_JOINTS)
JOINT_HIPS = [BODY_JOINTS.index(j) for j in HIPS]


@dataclass(frozen=True)
class LifterConfig:
    """A residual MLP: 198 inputs -> ``width`` -> ``blocks`` x (LayerNorm, Linear, GELU, Dropout, Linear) -> 36.

    ``window`` > 1 adds the motion branch: each of the window's frames -> ``frame_width`` (Linear, GELU), the T of
    them concatenated -> ``width``, added to the current frame's embedding."""

    width: int = 1024
    blocks: int = 2
    dropout: float = 0.1
    window: int = 1
    frame_width: int = 64


class JointLifter(nn.Module):
    def __init__(self, config: LifterConfig | None = None) -> None:
        super().__init__()
        self.config = config or LifterConfig()
        w = self.config.width
        self.embed = nn.Linear(33 * 6, w)
        if self.config.window > 1:
            self.frames = nn.Sequential(nn.Linear(33 * 6, self.config.frame_width), nn.GELU())
            self.motion = nn.Linear(self.config.window * self.config.frame_width, w)
            nn.init.zeros_(self.motion.weight)  # starts as the single-frame lifter (see the module docstring)
            nn.init.zeros_(self.motion.bias)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(w), nn.Linear(w, w), nn.GELU(), nn.Dropout(self.config.dropout), nn.Linear(w, w))
            for _ in range(self.config.blocks)
        )
        self.head = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, NUM_JOINTS * 3))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, 33, 6) landmark features, or (B, T, 33, 6) windows ending at the current frame (NaN where the detector
        gave none) -> (B, 12, 3) body joints of the current frame, metres, hip-centred (mean of BlazePose 23 and
        24), camera orientation (x right, y down, z forward). A single-frame lifter reads a window's last frame; a
        temporal one reads a single frame as a person standing still."""
        window = self.config.window
        frames = cond if cond.dim() == 4 else cond[:, None].expand(-1, window, -1, -1)  # (B, T', 33, 6)
        if window > 1 and frames.shape[1] != window:
            raise ValueError(f"this lifter reads windows of {window} frames, not {frames.shape[1]}")
        b, t = frames.shape[:2]
        turn = view_axis_rotation(upright_angle(frames[:, -1]))  # (B, 3, 3) upright view -> camera, current frame
        # The whole window turns with the current frame, so the motion between frames is kept.
        turn_t = turn.transpose(1, 2).repeat_interleave(t, dim=0)  # (B T, 3, 3)
        upright = turn_landmark_features(torch.nan_to_num(frames).reshape(b * t, 33, 6), turn_t).view(b, t, -1)
        h = self.embed(upright[:, -1])
        if window > 1:
            h = h + self.motion(self.frames(upright).flatten(1))
        for block in self.blocks:
            h = h + block(h)
        joints = self.head(h).view(-1, NUM_JOINTS, 3)
        joints = joints - joints[:, JOINT_HIPS].mean(dim=1, keepdim=True)  # hip-centred by construction
        return joints @ turn.transpose(1, 2)  # rows: (turn j)^T


def crop_features(crops: Crops) -> torch.Tensor:
    """The lifter's (and MEGA's) input for ``crops``: (N, 33, 6) crop x, y, visibility, world x, y, z."""
    return landmark_features(torch.from_numpy(crops.landmarks_crop), torch.from_numpy(crops.landmarks_world_m)).float()


def mirror_joints(joints_m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 12, 3) body joints -> those of the mirror image (x negated, left <-> right)."""
    mirrored = joints_m[:, JOINT_MIRROR].copy()
    mirrored[..., 0] *= -1
    return mirrored


def two_view_features(crops: Crops, seen_mirrored: Crops | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The lifter's input for ``crops`` (N, 33, 6) and for their mirror images (N, 33, 6).

    The mirror image is the flipped frame's own crop where the flipped frame measured the person too (finite rows
    of ``seen_mirrored``, ``mocap.mesh.stage``): a second measurement, as the mesh stage uses for MEGA. Elsewhere it
    is the crop's landmarks mirrored (the lifter was trained on both, so this is a free second opinion).
    """
    twin = crops
    if seen_mirrored is not None:
        measured = np.isfinite(seen_mirrored.landmarks_crop).all(axis=(1, 2), keepdims=True)  # (N, 1, 1)
        twin = replace(
            crops,
            landmarks_crop=np.where(measured, seen_mirrored.landmarks_crop, crops.landmarks_crop),
            landmarks_world_m=np.where(measured, seen_mirrored.landmarks_world_m, crops.landmarks_world_m),
        )
    return crop_features(crops), crop_features(mirror_crops(twin))


@torch.no_grad()
def lift_two_views(lifter: JointLifter, features: torch.Tensor, twin_features: torch.Tensor) -> npt.NDArray[np.float32]:
    """(N, [T,] 33, 6) features of N people and of their mirror images (windows for a temporal lifter) -> (N, 12, 3)
    hip-centred body joints, camera orientation, metres: the mean of the lifter's answer for each person and its
    answer for the mirror image, mirrored back, so the result is exactly flip-equivariant."""
    n = len(features)
    if not n:
        return np.zeros((0, NUM_JOINTS, 3), np.float32)
    # One pass over both halves: at batch 1 the pass is bound by reading the weights (17 MB), not by arithmetic.
    both = lifter(torch.cat([features, twin_features])).numpy()  # (2N, 12, 3)
    return (both[:n] + mirror_joints(both[n:])) / 2


def lift_joints(lifter: JointLifter, crops: Crops, seen_mirrored: Crops | None = None) -> npt.NDArray[np.float32]:
    """(N, 12, 3) hip-centred body joints of ``crops`` (one frame each; a temporal lifter reads each as a person
    standing still), both views as :func:`two_view_features` and :func:`lift_two_views` make them."""
    return lift_two_views(lifter, *two_view_features(crops, seen_mirrored))


def lift_clip(
    lifter: JointLifter, crops: Crops, frame_index: npt.NDArray[np.int64], seen_mirrored: Crops | None = None
) -> npt.NDArray[np.float32]:
    """(N, 12, 3) joints of one person's N crops in the frames ``frame_index`` (N,) of a 30 fps clip, each read
    with its window of earlier crops as the mesh stage reads them (:mod:`mocap.lifter.temporal`)."""
    features, twins = two_view_features(crops, seen_mirrored)
    if lifter.config.window == 1:
        return lift_two_views(lifter, features, twins)
    rows = torch.from_numpy(window_rows(np.zeros(len(crops), np.int64), frame_index, lifter.config.window))
    return lift_two_views(lifter, features[rows], twins[rows])


def save_lifter(lifter: JointLifter, path: Path, metadata: dict[str, Any] | None = None) -> None:
    """Float16 weights + config (+ ``metadata``: the command, data and metrics that made them), written atomically."""
    state = {name: value.detach().cpu().half() for name, value in lifter.state_dict().items()}
    partial = path.with_name(path.name + ".partial")
    torch.save({"config": asdict(lifter.config), "state": state, "metadata": metadata or {}}, partial)
    partial.replace(path)


def load_lifter(path: Path) -> JointLifter:
    """A lifter saved by :func:`save_lifter` (or a training checkpoint's ``model``), in eval mode, float32."""
    if not Path(path).is_file():
        raise ModelNotFoundError(f"lifter file {path} is missing: train one with `mocap train lifter --out DIR`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    try:
        lifter = JointLifter(LifterConfig(**saved["config"]))
        lifter.load_state_dict({name: value.float() for name, value in saved["state"].items()})
    except (KeyError, TypeError, RuntimeError) as error:
        raise ModelNotFoundError(
            f"{path} is not a joint lifter saved by mocap ({error}): retrain it with `mocap train lifter`"
        ) from error
    return lifter.eval()
