"""Retarget BVH / ASF-AMC motion onto Anny's DEFAULT rig (the parameters the tokenizer and MEGA use).

Method (closed form, vectorised over frames, no optimisation):

1. Find the source's semantic joints by name (CMU ASF, CMU MotionBuilder/3dsMax/Daz BVH, iClone
   CC_Base, Mixamo-like, Rokoko names; see ``_ALIASES``) and resample the source to 30 fps.
2. Convert the source's axes to Anny's (z-up, facing -y, left = +x) with the rotation ``C`` that
   maps the source REST body frame (hips left-right, pelvis-to-neck up) onto Anny's.
3. Torso: the pelvis and chest orientations come from two-vector frames (hip line or shoulder
   line, pelvis-to-neck) of the source joints; the spine bones blend between them.
4. Limbs, clavicles, neck, hands and feet, segment by segment: the Anny bones of a segment get the
   world rotation ``G = S @ A``, with ``S`` the source bone's rotation from its own rest and
   ``A`` the fixed rotation from Anny's rest direction of the segment (A-pose) to the source's
   (T-pose for CMU): this is the rest-pose difference, applied once per bone, so the twist about
   the bone comes from the source. A final swing makes the segment direction match the source's
   joint positions exactly.
5. Local rotations ``R_c = G_parent^T G_c`` (Anny ``local-ref``); unmapped bones (fingers, toes)
   stay at rest. Root translation is the source pelvis path scaled by the leg-length ratio, lifted
   so the lowest ankles of the clip stand on the floor z = 0.

Bone lengths are Anny's (the pose drives Anny's own skeleton); directions of every mapped
segment equal the source's.

Example:
    >>> anny_motion = retarget(read_bvh("131_01.bvh"))   # doctest: +SKIP
    >>> anny_motion.pose_rotmat.shape                      # doctest: +SKIP
    (250, 104, 3, 3)
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.anny_body import AnnyBody, neutral_phenotypes
from mocap.body.rotations import matrix_to_quaternion, quaternion_to_matrix
from mocap.errors import SourceError
from mocap.motion.skeleton import Motion

log = logging.getLogger(__name__)

TARGET_FPS: Final = 30.0
ANKLE_HEIGHT_M: Final = 0.07  # neutral Anny's ankle joint above the floor when standing

# Semantic joint -> source joint names (lower case, prefixes stripped), most specific first.
# "{s}" is l/r, "{side}" left/right. "leftshoulder" is the clavicle in MotionBuilder BVH and the
# upper arm in 3dsMax BVH: it is tried last for the shoulder, and the clavicle takes what is left.
_ALIASES: Final = {
    "hip": ("{s}femur", "{side}upleg", "{side}hip", "{s}thigh", "{s}_thigh", "{side}thigh"),
    "knee": ("{s}tibia", "{side}leg", "{side}knee", "{s}shin", "{s}_calf", "{side}shin"),
    "ankle": ("{s}foot", "{side}foot", "{side}ankle", "{s}_foot"),
    "toe": ("{s}toes", "{side}toebase", "{side}toe", "{s}toe", "{s}_toebase"),
    "shoulder": ("{s}humerus", "{side}arm", "{s}shldr", "{s}_upperarm", "{side}upperarm", "{side}shoulder"),
    "clavicle": ("{s}clavicle", "{side}collar", "{s}collar", "{s}_clavicle", "{side}shoulder"),
    "elbow": ("{s}radius", "{side}forearm", "{side}elbow", "{s}forearm", "{s}_forearm"),
    "wrist": ("{s}wrist", "{side}hand", "{side}wrist", "{s}hand", "{s}_hand"),
    "neck": ("lowerneck", "neck", "necktwist01", "neck1"),
    "head": ("head",),
}
_PREFIXES: Final = ("cc_base_", "mixamorig:", "mixamorig_", "bip01_")

# Anny default-rig segments: (bones rotated together, segment start bone, segment end bone).
_LIMBS: Final = {
    "clavicle": (("clavicle", "shoulder01"), "clavicle", "upperarm01"),
    "shoulder": (("upperarm01", "upperarm02"), "upperarm01", "lowerarm01"),
    "elbow": (("lowerarm01", "lowerarm02"), "lowerarm01", "wrist"),
    "wrist": (("wrist",), "wrist", "finger3-1"),
    "hip": (("upperleg01", "upperleg02"), "upperleg01", "lowerleg01"),
    "knee": (("lowerleg01", "lowerleg02"), "lowerleg01", "foot"),
    "ankle": (("foot",), "foot", "toe3-1"),
}
_SPINE: Final = ("spine05", "spine04", "spine03", "spine02", "spine01")
_NECK: Final = ("neck01", "neck02", "neck03")

# Anny bones the retargeting drives (others stay at rest); the dataset stores only these.
_LIMB_BONES: Final = tuple(f"{b}.{s}" for s in "LR" for bones, _, _ in _LIMBS.values() for b in bones)
DRIVEN_BONES: Final = ("root", *_SPINE, *_NECK, "head", *_LIMB_BONES)


@dataclass(frozen=True, eq=False)
class AnnyMotion:
    """Motion on Anny's default rig.

    Attributes:
        pose_rotmat: (T, 104, 3, 3) float32 local rotations (``local-ref``), index 0 global orientation.
        transl_m: (T, 3) float32 root joint position, metres, Anny world (z-up, floor near z = 0).
        fps: frames per second.
    """

    pose_rotmat: npt.NDArray[np.float32]
    transl_m: npt.NDArray[np.float32]
    fps: float

    def __len__(self) -> int:
        return int(self.pose_rotmat.shape[0])


def _key(name: str) -> str:
    name = name.lower()
    for prefix in _PREFIXES:
        name = name.removeprefix(prefix)
    return name


def find_source_joints(names: tuple[str, ...]) -> dict[str, int]:
    """Semantic joint ("hip.L", "neck", ...) -> index into ``names``, for the joints found."""
    index = {_key(n): i for i, n in enumerate(names)}
    found: dict[str, int] = {}
    for joint in ("hip", "knee", "ankle", "toe", "shoulder", "clavicle", "elbow", "wrist"):
        for s, side in (("l", "left"), ("r", "right")):
            taken = set(found.values())
            for alias in _ALIASES[joint]:
                i = index.get(alias.format(s=s, side=side))
                if i is not None and i not in taken:
                    found[f"{joint}.{s.upper()}"] = i
                    break
    for joint in ("neck", "head"):
        for alias in _ALIASES[joint]:
            if alias in index:
                found[joint] = index[alias]
                break
    return found


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3) the smallest rotation taking direction a to direction b.

    Identity where a or b has zero length.
    """
    degenerate = (np.linalg.norm(a, axis=-1) < 1e-12) | (np.linalg.norm(b, axis=-1) < 1e-12)
    a, b = np.broadcast_arrays(_normalize(a), _normalize(b))
    b = np.where(degenerate[..., None], a, b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = (a * b).sum(-1)
    # Antiparallel: turn by pi about any axis perpendicular to a.
    fallback = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0]))
    axis = _normalize(np.where((sin < 1e-9)[..., None], fallback, axis))
    k = np.zeros((*axis.shape, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + sin[..., None, None] * k + (1 - cos)[..., None, None] * (k @ k)


def _frame(side: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3) left-pointing and up-pointing vectors -> (..., 3, 3) frame with columns (left, up, forward)."""
    left = _normalize(side)
    up = _normalize(up - (up * left).sum(-1, keepdims=True) * left)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


@functools.lru_cache(maxsize=1)
def _anny_rest() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Default-rig bone names, parents and neutral rest joint positions (J, 3), identity pose."""
    body = AnnyBody("default")
    with torch.no_grad():
        rest = body.bone_poses(body.identity_pose(1), body.rest_bone_poses(neutral_phenotypes(1)))
    return body.joint_names, body.parents, rest[0, :, :3, 3].double().numpy()


def _slerp_rotations(r0: np.ndarray, r1: np.ndarray, weight: float) -> np.ndarray:
    q0 = matrix_to_quaternion(torch.from_numpy(r0)).numpy()
    q1 = matrix_to_quaternion(torch.from_numpy(r1)).numpy()
    q1 = q1 * np.where((q0 * q1).sum(-1, keepdims=True) < 0, -1.0, 1.0)
    return quaternion_to_matrix(torch.from_numpy((1 - weight) * q0 + weight * q1)).numpy()


def _segment_end(motion: Motion, joint: int) -> np.ndarray | None:
    """Offset (metres, file axes) from ``joint`` to where its bone ends: its first non-thumb child
    (skipping zero-length links such as cgspeed's ``lhand``) or its end site; None if neither."""
    skeleton = motion.skeleton
    offset = np.zeros(3)
    while True:
        kids = [
            k for k in range(len(skeleton)) if skeleton.parents[k] == joint and "thumb" not in skeleton.names[k].lower()
        ]
        if not kids:
            end = skeleton.end_offsets[joint]
            return None if np.isnan(end[0]) and not offset.any() else (offset + np.nan_to_num(end)) * motion.unit_m
        offset = offset + skeleton.offsets[kids[0]]
        if np.linalg.norm(offset) > 1e-6 * max(skeleton.rest_extent(), 1e-9):
            return offset * motion.unit_m
        joint = kids[0]


def retarget(motion: Motion, fps: float = TARGET_FPS) -> AnnyMotion:
    """Retarget a source motion onto Anny's default rig at ``fps`` (see the module docstring)."""
    names, parents, anny_rest = _anny_rest()
    bone = {n: i for i, n in enumerate(names)}
    src = find_source_joints(motion.skeleton.names)
    needed = ("hip.L", "hip.R", "knee.L", "knee.R", "ankle.L", "ankle.R", "shoulder.L", "shoulder.R", "neck")
    missing = [k for k in needed if k not in src]
    if missing:
        raise SourceError(
            f"cannot retarget skeleton with joints {motion.skeleton.names[:8]}...: no joint found for {missing}; "
            "add its name to mocap.motion.retarget._ALIASES"
        )
    motion = motion.resample(fps)
    rest_motion = Motion(
        motion.skeleton, np.eye(3)[None, None].repeat(len(motion.skeleton), 1), np.zeros((1, 3)), fps, motion.unit_m
    )
    src_rest = rest_motion.joint_positions_m()[0]  # (J, 3) file axes
    positions = motion.joint_positions_m()  # (T, J, 3) file axes
    world = motion.world_rotations()  # (T, J, 3, 3) file axes, relative to the source rest

    # Source axes -> Anny axes from the rest body frames.
    def body_frame(p: np.ndarray, hip_l: int, hip_r: int, pelvis: int | np.ndarray, neck: int) -> np.ndarray:
        return _frame(p[..., hip_l, :] - p[..., hip_r, :], p[..., neck, :] - p[..., pelvis, :])

    src_frame_rest = body_frame(src_rest, src["hip.L"], src["hip.R"], 0, src["neck"])
    anny_frame_rest = body_frame(anny_rest, bone["upperleg01.L"], bone["upperleg01.R"], 0, bone["neck01"])
    c = anny_frame_rest @ src_frame_rest.T  # (3, 3) maps source rest axes onto Anny's
    positions = positions @ c.T
    src_rest = src_rest @ c.T
    world = c @ world @ c.T

    num_frames = len(motion)
    g = np.tile(np.eye(3), (num_frames, len(names), 1, 1))  # world rotations of Anny bones, from rest
    assigned = np.zeros(len(names), dtype=bool)

    def assign(anny_bones: tuple[str, ...], rotation: np.ndarray) -> None:
        for b in anny_bones:
            g[:, bone[b]] = rotation
            assigned[bone[b]] = True

    # Torso: pelvis from the hip line, chest from the shoulder line, both with pelvis-to-neck up.
    up = positions[:, src["neck"]] - positions[:, 0]
    pelvis = _frame(positions[:, src["hip.L"]] - positions[:, src["hip.R"]], up) @ anny_frame_rest.T
    chest_rest = _frame(anny_rest[bone["upperarm01.L"]] - anny_rest[bone["upperarm01.R"]], anny_frame_rest[:, 1])
    chest = _frame(positions[:, src["shoulder.L"]] - positions[:, src["shoulder.R"]], up) @ chest_rest.T
    assign(("root", "pelvis.L", "pelvis.R"), pelvis)
    for k, b in enumerate(_SPINE):
        assign((b,), _slerp_rotations(pelvis, chest, (k + 1) / len(_SPINE)))

    def segment(
        anny_bones: tuple[str, ...],
        start: str,
        end: str,
        src_joint: int,
        src_end_rest: np.ndarray | None,
        src_end: np.ndarray | None,
    ) -> None:
        a = anny_rest[bone[end]] - anny_rest[bone[start]]
        if src_end_rest is None or src_end is None:  # no direction to match: twist and swing from the source
            assign(anny_bones, world[:, src_joint])
            return
        s = world[:, src_joint]
        g0 = s @ rotation_between(a, src_end_rest - src_rest[src_joint])  # (T, 3, 3) = S A
        target = src_end - positions[:, src_joint]
        assign(anny_bones, rotation_between(g0 @ a, target) @ g0)

    for side in "LR":
        for joint, (anny_bones, start, end) in _LIMBS.items():
            key = f"{joint}.{side}"
            if key not in src:
                continue
            j = src[key]
            nxt = {
                "clavicle": "shoulder",
                "shoulder": "elbow",
                "elbow": "wrist",
                "hip": "knee",
                "knee": "ankle",
                "ankle": "toe",
            }.get(joint)
            if nxt and f"{nxt}.{side}" in src:
                end_rest, end_now = src_rest[src[f"{nxt}.{side}"]], positions[:, src[f"{nxt}.{side}"]]
            else:  # hand or foot without a named child: its first child or end site
                offset = _segment_end(motion, j)
                end_rest = None if offset is None else src_rest[j] + offset @ c.T
                end_now = None if offset is None else positions[:, j] + world[:, j] @ (offset @ c.T)
            segment(tuple(f"{b}.{side}" for b in anny_bones), f"{start}.{side}", f"{end}.{side}", j, end_rest, end_now)
    if "head" in src:
        head = src["head"]
        segment(_NECK, "neck01", "head", src["neck"], src_rest[head], positions[:, head])
        assign(("head",), world[:, head])
    else:
        segment(_NECK, "neck01", "head", src["neck"], None, None)

    # Unassigned bones follow their parent; local rotations R_c = G_p^T G_c.
    for j in range(1, len(names)):
        if not assigned[j]:
            g[:, j] = g[:, parents[j]]
    local = g.copy()
    local[:, 1:] = np.swapaxes(g[:, parents[1:]], -1, -2) @ g[:, 1:]

    # Root path scaled by leg length (thigh + shin), so feet meet the floor as in the source.
    def leg(p: np.ndarray, hip: int, knee: int, ankle: int) -> float:
        return float(np.linalg.norm(p[knee] - p[hip]) + np.linalg.norm(p[ankle] - p[knee]))

    scale = leg(anny_rest, bone["upperleg01.L"], bone["lowerleg01.L"], bone["foot.L"]) / leg(
        src_rest, src["hip.L"], src["knee.L"], src["ankle.L"]
    )
    # Floor: the clip's lowest ankles (5th percentile) at the rest ankle height; BVH files disagree on
    # whether the root OFFSET is part of the path, so the source's own height is not trusted.
    transl = positions[:, 0] * scale
    ankles_z = np.minimum(positions[:, src["ankle.L"], 2], positions[:, src["ankle.R"], 2]) * scale
    transl[:, 2] += ANKLE_HEIGHT_M - np.percentile(ankles_z, 5)
    return AnnyMotion(local.astype(np.float32), transl.astype(np.float32), fps)
