"""The motion dataset: mocap clips retargeted onto Anny, cached as npz, and samplers for training.

``build_dataset(data_dir, cache_dir)`` reads every clip in ``<data_dir>/mocap`` (CMU ASF/AMC,
CMU BVH in cgspeed/MotionBuilder/Daz/iClone layouts, AnimatedDrawings BVH, CMU trials as DeepMimic
humanoid3d motions), retargets it to Anny's
default rig at 30 fps (:mod:`mocap.motion.retarget`) and writes one npz per clip under
``<cache_dir>/motion/v1/``. :class:`MotionDataset` loads a split and samples frames:
``sample_canonical_meshes`` for the mesh tokenizer and ``sample_posed`` for MEGA training, both
with random phenotypes (:func:`mocap.body.anny_body.random_phenotypes`).

Example:
    >>> data = MotionDataset.load(default_cache_dir())              # doctest: +SKIP
    >>> data.sample_canonical_meshes("train", 8, np.random.default_rng(0)).shape  # doctest: +SKIP
    (8, 13718, 3)
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch

from mocap.body.anny_body import AnnyBody, random_phenotypes
from mocap.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from mocap.errors import ConfigError, SourceError
from mocap.motion.asf_amc import read_amc, read_asf
from mocap.motion.bvh import read_bvh
from mocap.motion.deepmimic import read_deepmimic
from mocap.motion.retarget import DRIVEN_BONES, retarget
from mocap.motion.skeleton import Motion
from mocap.motion.splits import SPLITS, Split, split_of

log = logging.getLogger(__name__)

# Indices into DRIVEN_BONES of each limb (arm with clavicle, leg with foot; left, right), which limb mixing
# (``MotionDataset._random_poses``) takes from another frame: poses no clip holds, for novel motions.
LIMB_GROUPS: Final = tuple(
    tuple(i for i, bone in enumerate(DRIVEN_BONES) if bone.endswith(f".{side}") and bone.startswith(part))
    for side in "LR"
    for part in (("clavicle", "shoulder", "upperarm", "lowerarm", "wrist"), ("upperleg", "lowerleg", "foot"))
)
CACHE_VERSION: Final = "v1"  # bump when retargeting changes, so old caches are not reused
MIN_FRAMES: Final = 10


def default_cache_dir() -> Path:
    """``$MOCAP_CACHE_DIR``, else ``~/.cache/mocap``."""
    return Path(os.environ.get("MOCAP_CACHE_DIR") or Path.home() / ".cache" / "mocap")


@dataclass(frozen=True)
class ClipSource:
    """One source clip: its file, the ASF skeleton for AMC files, its capture subject and collection."""

    path: Path
    subject: str
    collection: str
    asf: Path | None = None
    character: Path | None = None  # the DeepMimic character file of a DeepMimic motion

    @property
    def name(self) -> str:
        return re.sub(r"\.(bvh|amc|txt)(\.gz)?$", "", self.path.name)

    def read(self) -> Motion:
        if self.asf is not None:
            return read_amc(self.path, read_asf(self.asf))
        if self.character is not None:
            return read_deepmimic(self.path, self.character)
        return read_bvh(self.path)


def _cmu(number: str) -> str:
    return f"cmu{int(number):02d}"


def discover_clips(data_dir: Path) -> list[ClipSource]:
    """Every clip under ``<data_dir>/mocap`` that the readers and the retargeting handle."""
    root = data_dir / "mocap"
    if not root.is_dir():
        raise SourceError(f"no mocap folder at {root}; pass --data-dir pointing at the shared data folder")
    clips: list[ClipSource] = []
    for asf_dir in sorted([*root.glob("cmu_asf_amc/*"), *root.glob("more/cmu_asf_amc_motiongraphs/*")]):
        asf = next(iter(sorted(asf_dir.glob("*.asf"))), None)
        if asf is None:
            continue
        for amc in sorted([*asf_dir.glob("*.amc"), *asf_dir.glob("*.amc.gz")]):
            clips.append(ClipSource(amc, _cmu(asf_dir.name), asf_dir.parent.name, asf))
    for path in sorted(root.glob("cmu_bvh_cgspeed/*.bvh")):
        clips.append(ClipSource(path, _cmu(path.name.split("_")[0]), "cmu_bvh_cgspeed"))
    for path in sorted(root.glob("cmu_bvh_iclone/*/*.bvh")):
        clips.append(ClipSource(path, _cmu(path.parent.name), "cmu_bvh_iclone"))
    for path in sorted(
        [*root.glob("more/cmu_bvh_daz_przestr/*/*.bvh.gz"), *root.glob("more/cmu_bvh_mb_motionviewer/*/*.bvh.gz")]
    ):
        clips.append(ClipSource(path, _cmu(path.parent.name), path.parent.parent.name))
    for path in sorted(root.glob("more/cmu_bvh_daz_acrnn/*/*.bvh.gz")):
        # salsa 01-15 = CMU 60_01-15, 16-30 = partner CMU 61_01-15; indian = CMU 94 (more/README.md).
        number = int(re.findall(r"\d+", path.name)[0])
        subject = "cmu94" if path.parent.name == "indian" else ("cmu60" if number <= 15 else "cmu61")
        clips.append(ClipSource(path, subject, "cmu_bvh_daz_acrnn"))
    deepmimic = root / "more" / "cmu_deepmimic_jump"
    for path in sorted(deepmimic.glob("cmu*/*/*.txt.gz")):
        # CMU trials retargeted to DeepMimic's humanoid (flips, handstands, breakdance, falls, getting up). The
        # validation subject's jump (13_19) stays out so the validation set is the one earlier figures used, and
        # extra/ too: its clips' origin is not stated (more/README.md).
        subject = _cmu(path.parent.name)
        if split_of(subject) == "train":
            character = deepmimic / "humanoid3d_jumper60kg_character.txt"
            clips.append(ClipSource(path, subject, "cmu_deepmimic_jump", character=character))
    for path in sorted(root.glob("animated_drawings_bvh/*.bvh")):
        actor = path.name.split("_")[0]
        subject = {"cmu1": "ad_cmu1", "fair1": "fair1"}.get(actor, "rokoko_jesse")
        clips.append(ClipSource(path, subject, "animated_drawings_bvh"))
    return clips


def _clip_seed(key: str) -> int:
    return zlib.crc32(key.encode())


def build_dataset(data_dir: Path, cache_dir: Path | None = None, force: bool = False) -> list[Path]:
    """Retarget every clip of ``data_dir`` into ``<cache_dir>/motion/v1/<collection>/<folder>_<clip>.npz``.

    Existing files are kept unless ``force``. Clips that cannot be read or retargeted are
    skipped with a warning. Returns the npz paths.
    """
    out_dir = (cache_dir or default_cache_dir()) / "motion" / CACHE_VERSION
    bone_names = AnnyBody("default").joint_names
    driven = [bone_names.index(b) for b in DRIVEN_BONES]
    written = []
    for clip in discover_clips(data_dir):
        target = out_dir / clip.collection / f"{clip.path.parent.name}_{clip.name}.npz"  # unique per folder
        if target.exists() and not force:
            written.append(target)
            continue
        try:
            anny_motion = retarget(clip.read())
        except (SourceError, ValueError) as error:
            log.warning("skipping %s: %s", clip.path, error)
            continue
        if len(anny_motion) < MIN_FRAMES:
            continue
        pose_aa = matrix_to_axis_angle(torch.from_numpy(anny_motion.pose_rotmat[:, driven])).numpy()
        phenotype = random_phenotypes(1, np.random.default_rng(_clip_seed(clip.name)))[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            target,
            pose_aa=pose_aa.astype(np.float32),
            bones=np.asarray(DRIVEN_BONES),
            transl_m=anny_motion.transl_m,
            phenotype=phenotype,
            fps=np.float32(anny_motion.fps),
            subject=clip.subject,
            collection=clip.collection,
            clip=clip.name,
            source=str(clip.path.relative_to(data_dir)),
        )
        log.info("%s: %d frames -> %s", clip.path.name, len(anny_motion), target)
        written.append(target)
    return written


@dataclass(frozen=True, eq=False)
class Sequence:
    """One retargeted clip on Anny's default rig (driven bones only; the others are at rest).

    Attributes:
        pose_aa: (T, len(bones), 3) float32 local axis-angle of ``bones``.
        bones: names of the driven Anny bones.
        transl_m: (T, 3) root joint path, metres, z-up, floor at z = 0.
        phenotype: (6,) the phenotype drawn for this clip (training samplers draw their own).
        fps, subject, collection, clip, source: provenance.
    """

    pose_aa: npt.NDArray[np.float32]
    bones: tuple[str, ...]
    transl_m: npt.NDArray[np.float32]
    phenotype: npt.NDArray[np.float32]
    fps: float
    subject: str
    collection: str
    clip: str
    source: str

    def __len__(self) -> int:
        return int(self.pose_aa.shape[0])

    @property
    def split(self) -> Split:
        return split_of(self.subject)

    def pose_rotmat(self, body: AnnyBody | None = None) -> npt.NDArray[np.float32]:
        """(T, 104, 3, 3) float32 full default-rig local rotations (undriven bones at rest), for AnnyBody.forward."""
        body = body or AnnyBody("default")
        pose = body.identity_pose(len(self))
        pose[:, [body.joint_index(b) for b in self.bones]] = axis_angle_to_matrix(torch.from_numpy(self.pose_aa))
        return pose.numpy()

    @classmethod
    def load(cls, path: Path) -> Sequence:
        with np.load(path) as f:
            return cls(
                pose_aa=f["pose_aa"],
                bones=tuple(f["bones"].tolist()),
                transl_m=f["transl_m"],
                phenotype=f["phenotype"],
                fps=float(f["fps"]),
                subject=str(f["subject"]),
                collection=str(f["collection"]),
                clip=str(f["clip"]),
                source=str(f["source"]),
            )


@dataclass(frozen=True, eq=False)
class PosedSample:
    """Random bodies in random mocap poses, root joint at the origin, Anny world axes (z-up).

    Attributes:
        pose_rotmat: (n, 104, 3, 3) default-rig local rotations, index 0 = global orientation.
        phenotype: (n, 6).
        vertices_m: (n, 13718, 3); joints_m: (n, 104, 3); landmarks_m: (n, 33, 3) MediaPipe order.
    """

    pose_rotmat: npt.NDArray[np.float32]
    phenotype: npt.NDArray[np.float32]
    vertices_m: npt.NDArray[np.float32]
    joints_m: npt.NDArray[np.float32]
    landmarks_m: npt.NDArray[np.float32]


class MotionDataset:
    """The cached sequences, grouped by split, with frame samplers for training."""

    def __init__(self, sequences: list[Sequence]) -> None:
        self.sequences = sequences
        self._frames: dict[str, npt.NDArray[np.float32]] = {}
        for split in SPLITS:
            chunks = [s.pose_aa for s in sequences if s.split == split]
            if chunks:
                self._frames[split] = np.concatenate(chunks)
        self._body: AnnyBody | None = None

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> MotionDataset:
        root = (cache_dir or default_cache_dir()) / "motion" / CACHE_VERSION
        paths = sorted(root.glob("*/*.npz"))
        if not paths:
            raise ConfigError(f"no motion dataset in {root}; build it with `mocap data build`")
        return cls([Sequence.load(p) for p in paths])

    def split(self, split: Split) -> list[Sequence]:
        return [s for s in self.sequences if s.split == split]

    def report(self) -> Iterator[tuple[str, int, int, int, float]]:
        """Per split: (split, subjects, clips, frames, minutes)."""
        for split in SPLITS:
            seqs = self.split(split)  # type: ignore[arg-type]
            frames = sum(len(s) for s in seqs)
            minutes = sum(len(s) / s.fps for s in seqs) / 60.0
            yield split, len({s.subject for s in seqs}), len(seqs), frames, minutes

    @property
    def body(self) -> AnnyBody:
        if self._body is None:
            self._body = AnnyBody("default")
        return self._body

    def _random_poses(self, split: Split, n: int, rng: np.random.Generator, limb_mix: float = 0.0) -> torch.Tensor:
        """(n, 104, 3, 3) poses of random frames of ``split``; with ``limb_mix`` > 0 each limb of each pose is, with
        that probability, another random frame's (:data:`LIMB_GROUPS`)."""
        frames = self._frames.get(split)
        if frames is None:
            raise ConfigError(f"the motion dataset has no {split} frames; rebuild it with `mocap data build`")
        picked = frames[rng.integers(0, len(frames), n)]  # (n, bones, 3) axis-angle
        if limb_mix > 0:  # no draws otherwise, so poses without mixing stay what they were
            for group in LIMB_GROUPS:
                donors = frames[rng.integers(0, len(frames), n)]
                mixed = np.flatnonzero(rng.random(n) < limb_mix)
                rows = np.ix_(mixed, np.asarray(group))
                picked[rows] = donors[rows]
        pose_aa = torch.from_numpy(picked)
        pose = self.body.identity_pose(n)
        bones = self.sequences[0].bones  # every cached clip drives the same bones (DRIVEN_BONES)
        pose[:, [self.body.joint_index(b) for b in bones]] = axis_angle_to_matrix(pose_aa)
        return pose

    @torch.no_grad()
    def sample_canonical_meshes(
        self, split: Split, n: int, rng: np.random.Generator, limb_mix: float = 0.0
    ) -> npt.NDArray[np.float32]:
        """(n, 13718, 3) float32 canonical meshes (no global rotation, vertex-mean centred, metres)
        of random frames of ``split`` on random phenotypes (``limb_mix``: as :meth:`_random_poses`)."""
        phenotype = torch.from_numpy(random_phenotypes(n, rng))
        return self.body.canonical_vertices(self._random_poses(split, n, rng, limb_mix), phenotype).numpy()

    @torch.no_grad()
    def sample_posed(self, split: Split, n: int, rng: np.random.Generator, random_yaw: bool = True) -> PosedSample:
        """Random frames of ``split`` on random phenotypes, root at the origin; ``random_yaw`` turns
        each body about the vertical (z) axis by a uniform angle (the mocap's own heading is arbitrary)."""
        pose = self._random_poses(split, n, rng)
        if random_yaw:
            yaw = torch.from_numpy(rng.uniform(-np.pi, np.pi, n)).float()
            pose[:, 0] = axis_angle_to_matrix(torch.stack([0 * yaw, 0 * yaw, yaw], 1)) @ pose[:, 0]
        phenotype = torch.from_numpy(random_phenotypes(n, rng))
        out = self.body.forward(pose, phenotype)
        return PosedSample(
            pose_rotmat=pose.numpy(),
            phenotype=phenotype.numpy(),
            vertices_m=out.vertices_m.numpy(),
            joints_m=out.joints_m.numpy(),
            landmarks_m=self.body.landmarks(out.vertices_m).numpy(),
        )
