"""Training examples measured by the real detector: MediaPipe run on ``mocap synth`` renders of TRAIN motions.

The synthetic detector model (``mocap.mega.synthetic``) imitates MediaPipe from ground-truth landmarks; it cannot
imitate MediaPipe's systematic errors (its world landmarks are off by ~7 cm in shape and more in depth on renders).
This module measures them instead: it renders short clips of train-split motions on random bodies, cameras and
clothes (``Synthesizer``), runs the pipeline's own detector on the encoded video, builds the pipeline's own crops,
and pairs each detection with the exact targets of the conditioned loss (tokens of the canonical mesh, rotation
canonical -> camera, GT landmarks in that crop). ``RenderedSource`` mixes such examples into synthetic batches.

A rendered set is a folder of shards, one ``clip_NNNNN.npz`` per clip (written atomically, so an interrupted
build resumes at the next missing clip) plus the clips' seeds in each shard. The videos and stores are scratch.

Example:
    >>> build_rendered_set(Path("runs/renders"), clips=range(200), tokenizer=MeshVQVAE.load(path))  # doctest: +SKIP
    >>> examples = RenderedExamples.load_folder(Path("runs/renders"))  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from mocap.body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from mocap.body.symmetry import load_vertex_mirror, mirror_landmarks
from mocap.errors import ConfigError
from mocap.mega.train import BatchSource, TrainingBatch
from mocap.mesh.mirror import mirror_rotation, mirror_vertices
from mocap.motion.splits import Split
from mocap.types import Crops

log = logging.getLogger(__name__)

HIPS = [23, 24]
_NO_MIRRORED_TOKENS = (
    "these rendered examples have no mirrored tokens (ids_mirror): rebuild them with `mocap data renders` "
    "or train without --mirror-fraction"
)


@dataclass(frozen=True)
class RenderedExamples:
    """M detector-measured examples with every target of the conditioned loss (float32 unless noted).

    cond: (M, 33, 6) crop x, y in [-1, 1], visibility, MediaPipe world x, y, z (hip-centred, metres).
    ids: (M, N) int64 GT tokens of the canonical mesh.
    rotation_6d: (M, 6) GT rotation canonical -> camera.
    keypoints_canonical_m: (M, 33, 3) GT landmarks of the canonical mesh.
    keypoints_crop: (M, 33, 3) GT landmarks projected into the same crop, and 1 (confidence).
    ids_mirror: optional (M, N) int64 GT tokens of the mirrored canonical mesh (:meth:`mirrored`); shards built
        before session 8 lack it.
    """

    cond: np.ndarray
    ids: np.ndarray
    rotation_6d: np.ndarray
    keypoints_canonical_m: np.ndarray
    keypoints_crop: np.ndarray
    ids_mirror: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def save(self, path: Path) -> None:
        partial = path.with_name(path.stem + ".partial.npz")
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        np.savez(partial, **arrays)  # type: ignore[arg-type]
        partial.replace(path)

    @classmethod
    def load_folder(cls, folder: Path) -> RenderedExamples:
        """Every ``clip_*.npz`` shard in ``folder``, concatenated (``ids_mirror`` only when every shard has it)."""
        shards = sorted(Path(folder).glob("clip_*[0-9].npz"))
        if not shards:
            raise ConfigError(f"no rendered examples in {folder}; build them with `mocap data renders --out {folder}`")
        parts = [np.load(shard) for shard in shards]
        names = [f.name for f in fields(cls) if all(f.name in p.files for p in parts)]
        return cls(**{name: np.concatenate([p[name] for p in parts]) for name in names})

    @classmethod
    def join(cls, parts: list[RenderedExamples]) -> RenderedExamples:
        """Several sets as one, in order (``ids_mirror`` only when every part has it)."""
        names = [f.name for f in fields(cls) if all(getattr(p, f.name) is not None for p in parts)]
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})

    def batch(self, rows: np.ndarray) -> TrainingBatch:
        return TrainingBatch(**{f.name: torch.from_numpy(getattr(self, f.name)[rows]) for f in fields(TrainingBatch)})

    def mirrored(self, rows: np.ndarray) -> TrainingBatch:
        """The examples of ``rows`` seen in a mirror: landmarks flipped left-right and relabelled (crop and world
        x -> -x), the mirrored body's tokens, rotation M R M, keypoints mirrored likewise. A second, exactly labelled
        example per render for the detector's habits seen the other way round (``mocap.mesh.mirror`` frames)."""
        if self.ids_mirror is None:
            raise ConfigError(_NO_MIRRORED_TOKENS)
        cond = self.cond[rows]  # (M, 33, 6): crop x, y, visibility, world x, y, z
        rotation = rotation_6d_to_matrix(torch.from_numpy(self.rotation_6d[rows]))
        return TrainingBatch(
            ids=torch.from_numpy(self.ids_mirror[rows]),
            cond=torch.from_numpy(
                np.concatenate([mirror_landmarks(cond[..., :3]), mirror_landmarks(cond[..., 3:])], -1)
            ),
            rotation_6d=matrix_to_rotation_6d(mirror_rotation(rotation)),
            keypoints_canonical_m=torch.from_numpy(mirror_landmarks(self.keypoints_canonical_m[rows])),
            keypoints_crop=torch.from_numpy(mirror_landmarks(self.keypoints_crop[rows])),
        )

    def crops(self, rows: np.ndarray) -> Crops:
        """The examples of ``rows`` as the mesh stage's ``Crops`` (landmarks already in crop coordinates; the
        pixel centre and size, which MEGA never sees, are placeholders)."""
        cond = self.cond[rows]  # (M, 33, 6): crop x, y, visibility, world x, y, z
        m = len(cond)
        return Crops(np.asarray(rows), np.zeros((m, 2)), np.ones(m), cond[..., :3].copy(), cond[..., 3:].copy())


def body_joints_camera(rotation_6d: np.ndarray, keypoints_canonical_m: np.ndarray) -> np.ndarray:
    """GT rotations (M, 6) canonical -> camera and canonical landmarks (M, 33, 3) -> (M, 33, 3) camera orientation."""
    rotation = rotation_6d_to_matrix(torch.from_numpy(np.asarray(rotation_6d, np.float32))).numpy()
    return np.einsum("mij,mkj->mki", rotation, keypoints_canonical_m).astype(np.float32)


def kabsch_rotations(source_m: torch.Tensor, target_m: torch.Tensor) -> torch.Tensor:
    """(B, J, 3) point sets -> (B, 3, 3) rotations R minimising |R (source - mean) - (target - mean)|."""
    p = source_m - source_m.mean(dim=1, keepdim=True)
    q = target_m - target_m.mean(dim=1, keepdim=True)
    u, _, vt = torch.linalg.svd(q.transpose(1, 2) @ p)  # (B, 3, 3) = sum q p^T
    d = torch.sign(torch.linalg.det(u @ vt))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    return u @ fix @ vt


def clip_examples(
    video: Path, truth_store: Path, tokenize: Callable[[torch.Tensor], torch.Tensor], detector: object
) -> RenderedExamples:
    """MediaPipe (``detector``: a ``PoseDetector`` with max_people 1) on ``video`` vs its one-person GT store."""
    from mocap.body.anny_body import AnnyBody
    from mocap.body.landmarks import regress_landmarks
    from mocap.body.rotations import matrix_to_rotation_6d
    from mocap.io.sources import open_source
    from mocap.io.store import open_store
    from mocap.mesh.crop import square_crops, to_crop

    frame_index, landmarks_px, world_m, boxes_px = [], [], [], []
    with open_source(video) as source:
        for frame in source:
            found = detector.detect(frame)  # type: ignore[attr-defined]
            if len(found):
                best = int(np.argmax(found.score))
                frame_index.append(frame.index)
                landmarks_px.append(found.landmarks_px[best])
                world_m.append(found.landmarks_world_m[best])
                boxes_px.append(found.xyxy_px[best])
    if not frame_index:
        raise ConfigError(f"MediaPipe found nobody in {video}")
    detected = np.stack(landmarks_px)  # (F, 33, 3) px + visibility
    center, size = square_crops(detected, np.stack(boxes_px))
    track = open_store(truth_store).track(1)
    rows = np.searchsorted(track.frame_index, np.asarray(frame_index))
    canonical = AnnyBody("default").canonical_vertices(
        torch.from_numpy(track["pose_rotmat"][rows]), torch.from_numpy(track["phenotype"][rows])
    )  # (F, V, 3)
    with torch.no_grad():
        ids = tokenize(canonical)
        ids_mirror = tokenize(mirror_vertices(canonical, torch.from_numpy(load_vertex_mirror())))
        keypoints = regress_landmarks(canonical)  # (F, 33, 3) canonical frame
    # Landmarks are affine in the vertices, so the camera-frame landmarks are a rigid motion of the canonical ones.
    rotation = kabsch_rotations(keypoints, torch.from_numpy(track["landmarks_cam_m"][rows]).float())
    truth_px = track["landmarks_px"][rows][..., :2]
    truth_crop = to_crop(truth_px, center, size)
    return RenderedExamples(
        cond=np.concatenate(
            [to_crop(detected[..., :2], center, size), detected[..., 2:], np.stack(world_m)], -1
        ).astype(np.float32),
        ids=ids.numpy().astype(np.int64),
        rotation_6d=matrix_to_rotation_6d(rotation).numpy().astype(np.float32),
        keypoints_canonical_m=keypoints.numpy().astype(np.float32),
        keypoints_crop=np.concatenate([truth_crop, np.ones_like(truth_crop[..., :1])], -1).astype(np.float32),
        ids_mirror=ids_mirror.numpy().astype(np.int64),
    )


def build_rendered_set(
    out: Path,
    clips: Iterable[int],
    tokenize: Callable[[torch.Tensor], torch.Tensor],
    seconds: float = 2.0,
    on_clip: Callable[[int, int], None] | None = None,
    split: Split = "train",
    collection: str | None = None,
) -> int:
    """Render, detect and convert one clip of ``split``'s motions per seed in ``clips`` (skipping shards already
    there). ``split="validation"`` makes a set for model selection; the test split stays for the benchmarks.
    ``collection`` restricts the motions to one collection of the split (e.g. the acrobatic "cmu_deepmimic_jump").

    Returns the number of examples in the folder. ``on_clip(seed, examples)`` reports each new shard.
    """
    from mocap.detect.pose import DetectConfig, PoseDetector
    from mocap.synth.clip import SynthConfig, Synthesizer
    from mocap.synth.motions import random_performances

    out.mkdir(parents=True, exist_ok=True)
    # One scratch folder per process: several processes may fill one folder with different --first-seed ranges.
    scratch = out / f"scratch-{os.getpid()}"
    synthesizer = None
    try:  # the scratch goes whatever ends the loop: a crash, Ctrl-C, the last clip
        for seed in clips:
            shard = out / f"clip_{seed:05d}.npz"
            if shard.exists():
                continue
            config = SynthConfig(seconds=seconds, seed=seed, store_vertices=False)
            synthesizer = synthesizer or Synthesizer(config)
            synthesizer.config = config
            video, store = scratch / "clip.mp4", scratch / "clip.gt.zarr"
            scratch.mkdir(exist_ok=True)
            synthesizer.synthesize(random_performances(config, split, collection), video, store, overwrite=True)
            with PoseDetector(DetectConfig(max_people=1)) as detector:  # fresh per clip: VIDEO mode timestamps
                try:
                    examples = clip_examples(video, store, tokenize, detector)
                except ConfigError as error:
                    log.warning("clip %d skipped: %s", seed, error)
                    continue
            examples.save(shard)
            if on_clip is not None:
                on_clip(seed, len(examples))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sum(len(np.load(path)["ids"]) for path in out.glob("clip_*[0-9].npz"))


class RenderedSource:
    """A ``BatchSource`` whose batches take ``round(fraction * B)`` rows from rendered examples, the rest from
    ``synthetic`` (a source of B-row batches); rows drawn per step from ``(seed, step)``, so resuming is exact."""

    def __init__(
        self,
        synthetic: BatchSource,
        examples: RenderedExamples,
        fraction: float,
        seed: int = 0,
        mirror_fraction: float = 0.0,
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"the rendered fraction must be in [0, 1], but got {fraction}")
        if not 0.0 <= mirror_fraction <= 1.0:
            raise ConfigError(f"the mirrored fraction must be in [0, 1], but got {mirror_fraction}")
        if mirror_fraction > 0 and examples.ids_mirror is None:
            raise ConfigError(_NO_MIRRORED_TOKENS)
        self.synthetic, self.examples, self.fraction, self.seed = synthetic, examples, fraction, seed
        self.mirror_fraction = mirror_fraction

    def __call__(self, step: int) -> TrainingBatch:
        batch = self.synthetic(step)
        count = int(round(self.fraction * len(batch.ids)))
        if count == 0:
            return batch
        rng = np.random.default_rng([self.seed, step, 7])
        rows = rng.integers(0, len(self.examples), count)
        mirrored = int(round(self.mirror_fraction * count))  # the last rows are seen in a mirror
        rendered = self.examples.batch(rows[: count - mirrored])
        if mirrored:
            twins = self.examples.mirrored(rows[count - mirrored :])
            names = [f.name for f in fields(TrainingBatch)]
            rendered = TrainingBatch(**{n: torch.cat([getattr(rendered, n), getattr(twins, n)]) for n in names})
        keep = len(batch.ids) - count

        def joined(name: str) -> torch.Tensor:
            ours, theirs = getattr(batch, name), getattr(rendered, name)
            if ours is None:
                raise ConfigError("rendered examples mix only into conditioned (landmark) batches")
            return torch.cat([ours[:keep], theirs.to(ours.dtype)])

        return TrainingBatch(**{f.name: joined(f.name) for f in fields(TrainingBatch)})
