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

A lifter file holds one network or several trained apart (other renders, other seeds): :class:`LifterEnsemble`
answers their mean. Each member overfits its own renders (training loss ~60 mm against ~90 on new renders of the
same motions), so their errors are partly their own and the mean beats each (models/lifter_anny/MODEL_CARD.md).
Files store float16 weights, or the hidden blocks' matrices as int8 (:func:`save_lifter`, half the size); either
loads as float32.

Example:
    >>> lifter = load_lifter(Path("models/lifter_anny/lifter.pt"))  # doctest: +SKIP
    >>> joints_m = lift_joints(lifter, crops)  # (N, 12, 3)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from mocap.body.joint_weights import BODY_JOINTS
from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.errors import ModelNotFoundError
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
    """A residual MLP: 198 inputs -> ``width`` -> ``blocks`` x (LayerNorm, Linear, GELU, Dropout, Linear) -> 36."""

    width: int = 1024
    blocks: int = 2
    dropout: float = 0.1


class JointLifter(nn.Module):
    def __init__(self, config: LifterConfig | None = None) -> None:
        super().__init__()
        self.config = config or LifterConfig()
        w = self.config.width
        self.embed = nn.Linear(33 * 6, w)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(w), nn.Linear(w, w), nn.GELU(), nn.Dropout(self.config.dropout), nn.Linear(w, w))
            for _ in range(self.config.blocks)
        )
        self.head = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, NUM_JOINTS * 3))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, 33, 6) landmark features (NaN where the detector gave none) -> (B, 12, 3) body joints, metres,
        hip-centred (mean of BlazePose 23 and 24), camera orientation (x right, y down, z forward)."""
        turn = view_axis_rotation(upright_angle(cond))  # (B, 3, 3) upright view -> camera
        upright = turn_landmark_features(torch.nan_to_num(cond), turn.transpose(1, 2))
        h = self.embed(upright.flatten(1))
        for block in self.blocks:
            h = h + block(h)
        joints = self.head(h).view(-1, NUM_JOINTS, 3)
        joints = joints - joints[:, JOINT_HIPS].mean(dim=1, keepdim=True)  # hip-centred by construction
        return joints @ turn.transpose(1, 2)  # rows: (turn j)^T


class LifterEnsemble(nn.Module):
    """Several lifters' mean answer (each hip-centred, so the mean is too): (B, 33, 6) -> (B, 12, 3)."""

    def __init__(self, members: Sequence[JointLifter]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two lifters, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(cond) for member in self.members]).mean(dim=0)


Lifter = JointLifter | LifterEnsemble


def crop_features(crops: Crops) -> torch.Tensor:
    """The lifter's (and MEGA's) input for ``crops``: (N, 33, 6) crop x, y, visibility, world x, y, z."""
    return landmark_features(torch.from_numpy(crops.landmarks_crop), torch.from_numpy(crops.landmarks_world_m)).float()


def mirror_joints(joints_m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 12, 3) body joints -> those of the mirror image (x negated, left <-> right)."""
    mirrored = joints_m[:, JOINT_MIRROR].copy()
    mirrored[..., 0] *= -1
    return mirrored


@torch.no_grad()
def lift_joints(lifter: Lifter, crops: Crops, seen_mirrored: Crops | None = None) -> npt.NDArray[np.float32]:
    """(N, 12, 3) hip-centred body joints of ``crops``, camera orientation, metres: the mean of the lifter's answer
    for each crop and its answer for a mirror image, mirrored back, so the result is exactly flip-equivariant.

    The mirror image is the flipped frame's own crop where the flipped frame measured the person too (finite rows
    of ``seen_mirrored``, ``mocap.mesh.stage``): a second measurement, as the mesh stage uses for MEGA. Elsewhere it
    is the crop's landmarks mirrored (the lifter was trained on both, so this is a free second opinion).
    """
    if not len(crops):
        return np.zeros((0, NUM_JOINTS, 3), np.float32)
    twin = crops
    if seen_mirrored is not None:
        measured = np.isfinite(seen_mirrored.landmarks_crop).all(axis=(1, 2), keepdims=True)  # (N, 1, 1)
        twin = replace(
            crops,
            landmarks_crop=np.where(measured, seen_mirrored.landmarks_crop, crops.landmarks_crop),
            landmarks_world_m=np.where(measured, seen_mirrored.landmarks_world_m, crops.landmarks_world_m),
        )
    # One pass over both halves: at batch 1 the pass is bound by reading the weights (17 MB a member), not arithmetic.
    features = torch.cat([crop_features(crops), crop_features(mirror_crops(twin))])  # (2N, 198)
    both = lifter(features.to(next(lifter.parameters()).device)).cpu().numpy()  # (2N, 12, 3)
    return (both[: len(crops)] + mirror_joints(both[len(crops) :])) / 2


Precision = Literal["float16", "int8"]


def save_lifter(
    lifter: Lifter, path: Path, metadata: dict[str, Any] | None = None, precision: Precision = "float16"
) -> None:
    """The weights + config of the lifter or of each ensemble member (+ ``metadata``: the command, data and metrics
    that made them), written atomically. ``precision``: float16 throughout, or ``int8``: the hidden blocks' weight
    matrices as int8 codes with a float16 scale per output row (:func:`quantise_rows`; half the size), the rest
    float16."""
    saved = [_saved_member(member, precision) for member in _members(lifter)]
    layout = saved[0] if len(saved) == 1 else {"members": saved}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save({**layout, "metadata": metadata or {}}, partial)
    partial.replace(path)


def quantise_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) weight -> int8 codes (out, in) and float16 scales (out, 1): each row's largest |w| maps to 127, so a
    weight moves by at most half its row's step (scale / 2)."""
    scales = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12).half()
    return torch.round(weight / scales.float()).clamp(-127, 127).to(torch.int8), scales


def load_lifter(path: Path) -> Lifter:
    """A lifter saved by :func:`save_lifter` (a :class:`LifterEnsemble` when it holds several), eval mode, float32."""
    if not Path(path).is_file():
        raise ModelNotFoundError(f"lifter file {path} is missing: train one with `mocap train lifter --out DIR`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    try:
        members = [_member(entry) for entry in saved.get("members", [saved])]
    except (AttributeError, KeyError, TypeError, RuntimeError) as error:
        raise ModelNotFoundError(
            f"{path} is not a joint lifter saved by mocap ({error}): retrain it with `mocap train lifter`"
        ) from error
    return (members[0] if len(members) == 1 else LifterEnsemble(members)).eval()


def join_lifters(paths: Sequence[Path]) -> LifterEnsemble:
    """The lifters in ``paths`` (single or ensembles, flattened) as one ensemble, eval mode."""
    return LifterEnsemble([member for path in paths for member in _members(load_lifter(path))]).eval()


def _members(lifter: Lifter) -> list[JointLifter]:
    if isinstance(lifter, JointLifter):
        return [lifter]
    return [member for member in lifter.members if isinstance(member, JointLifter)]


def _saved_member(member: JointLifter, precision: Precision) -> dict[str, Any]:
    state = {name: value.detach().cpu() for name, value in member.state_dict().items()}
    if precision == "float16":
        return {"config": asdict(member.config), "state": {name: value.half() for name, value in state.items()}}
    # Only the hidden blocks' matrices (96 % of the weights): rounding the input embedding or the head moves the
    # answer by 1-2.5 mm, the blocks by 0.6 (a shipped member, validation crops).
    matrices = {name: quantise_rows(v) for name, v in state.items() if v.ndim == 2 and name.startswith("blocks.")}
    return {
        "config": asdict(member.config),
        "state": {name: value.half() for name, value in state.items() if name not in matrices},
        "int8": {name: codes for name, (codes, _) in matrices.items()},
        "scales": {name: scales for name, (_, scales) in matrices.items()},
    }


def _member(entry: dict[str, Any]) -> JointLifter:
    lifter = JointLifter(LifterConfig(**entry["config"]))
    state = {name: value.float() for name, value in entry["state"].items()}
    for name, codes in entry.get("int8", {}).items():
        state[name] = codes.float() * entry["scales"][name].float()
    lifter.load_state_dict(state)
    return lifter
