"""The embedded MEGA's figures (issue 5) on held-out TEST subjects -> ``benchmarks/results/mega.json``.

Joints: the 12 BlazePose body landmarks (shoulders, elbows, wrists, hips, knees, ankles) regressed from a mesh by
the shipped landmark regressor (``mocap.body.landmarks``), so MEGA, ground truth and MediaPipe mean the same points.
MPJPE: both skeletons in the camera frame (MEGA's canonical mesh turned by its predicted rotation, the truth by its
own), each translated so that its hip centre (mean of landmarks 23, 24) is at the origin. PA-MPJPE: after a
similarity Procrustes of the predicted 12 joints onto the true ones. PVE: all 13 718 vertices, hip-centred as MPJPE.
All in millimetres, mean over crops.

Sections:
- ``synthetic``: test-split mocap frames on random bodies, landmarks from the regressor with the training detector
  model (``mocap.mega.synthetic``: random camera, noise, occlusion, truncation); argmax, best-of-K, uncertainty rho.
- ``mediapipe``: ``mocap synth`` renders of held-out motions; MediaPipe's landmarks -> ``square_crops``/``to_crop``
  crops exactly as the pipeline builds them -> MEGA; MediaPipe's own world landmarks on the same frames as baseline.
  ``mega_expected_mirror``: the expected mesh averaged with MEGA's answer for the mirror image (``mocap.mesh.mirror``)
  where the cheap uncertainty is above ``PolicyConfig.mirror_threshold`` (the pipeline's default); ``_all``: on every
  crop; against ``mega_expected`` alone on the same frames. ``mega_mirror_view`` (the offline default since session 8):
  averaged with MEGA's answer for the flipped frame as MediaPipe measured it there. ``_world`` (the defaults since
  session 9): then moved ``PolicyConfig.world_share`` of the way toward MediaPipe's world landmarks at the 12 body
  joints (``mocap.mesh.fusion``; the two views' mean with the mirrored view). ``lifter``: the joint lifter's 12 joints
  (``mocap.lifter``; ``lifter_mirror_view``: the two views' mean). ``_fused`` (the defaults since session 10): MEGA's
  mesh moved ``PolicyConfig.lift_share`` of the way toward the lifter's joints and ``world_share`` toward MediaPipe's
  (``--lift-share`` / ``--world-share`` measure other shares). ``_steady``: then scaled to the clip's running median
  size as the mesh stage writes each frame (``mocap.mesh.size.TrackSizes``; live:
  ``mega_expected_mirror_fused_steady``);
  ``_track``: to the median size over the whole clip, as the offline pass holds it before smoothing (per track, not
  per crop: the figures a capture gets; ``bench_smooth.py`` scores the smoothed stores end to end).
- ``tokenizer_floor``: decode(encode(truth)) vs truth on the same meshes (what MEGA cannot beat).
- ``rendered_validation`` (``--renders``): MediaPipe on renders of VALIDATION motions (``mocap data renders
  --split validation``), MEGA argmax vs MediaPipe's world landmarks: for choosing between trained models; with
  ``mega_expected_mirror`` as above.
- ``policy_calibration`` (``--renders``): on every third validation example, the argmax pass's cheap uncertainty
  against the mean vertex spread of K=8 samples (as ``mocap run`` samples): the line of the spread prior
  (``mocap train spread``, ``mocap.mesh.spread``), and the share of crops above the policy's threshold.
- ``speed``: ``MegaPredictor.predict`` per crop (batch 1, 4; against the model's one forward pass, measured in the
  same run) and K=16 x 5 steps with the tokenizer decode; ``--speed-only`` re-measures just this section.

Each run rewrites the sections it measures in ``--out`` and keeps the others.

Example (repository root; clips from ``mocap synth -o .cache/bench_mega/s1.mp4 --seconds 4 --seed 1``):
    python benchmarks/bench_mega.py --clips .cache/bench_mega/s*.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from mocap.body.landmarks import regress_landmarks
from mocap.body.rotations import rotation_6d_to_matrix
from mocap.body.symmetry import load_vertex_mirror
from mocap.devices import resolve_device
from mocap.lifter.model import Lifter, lift_joints, load_lifter
from mocap.mega.conditioning import landmark_features
from mocap.mega.evaluate import HIPS, body_joint_errors_mm, body_joints, joint_errors_mm, rendered_errors_mm
from mocap.mega.model import Mega, parameter_count
from mocap.mega.predictor import MegaPredictor, SamplingConfig
from mocap.mega.rendered import RenderedExamples
from mocap.mega.sampling import vertex_uncertainty
from mocap.mega.synthetic import LandmarkSynthesis, synthesize_landmarks
from mocap.mega.train import load_trained
from mocap.mesh.fusion import fuse_joint_estimates, fuse_world_landmarks
from mocap.mesh.mirror import Answer, average_twins
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.size import TrackSizes, skeleton_size_m
from mocap.mesh.stage import mirror_view_crops, world_landmarks
from mocap.tokenizer.model import MeshVQVAE
from mocap.types import Crops, MirrorView

KS = (1, 5, 10, 25)


# -- metrics (batch-first, metres in, millimetres out; joints and alignment from mocap.mega.evaluate) ----


def errors_mm(pred_vertices_cam_m: np.ndarray, truth_vertices_cam_m: np.ndarray) -> dict[str, np.ndarray]:
    """(B, V, 3) meshes in one frame -> per-crop MPJPE, PA-MPJPE, PVE (B,) mm, both hip-centred."""

    def landmarks(v: np.ndarray) -> np.ndarray:
        return regress_landmarks(torch.from_numpy(np.ascontiguousarray(v, np.float32))).numpy()

    lm_p, lm_t = landmarks(pred_vertices_cam_m), landmarks(truth_vertices_cam_m)  # (B, 33, 3)
    hip_p, hip_t = lm_p[:, HIPS].mean(1, keepdims=True), lm_t[:, HIPS].mean(1, keepdims=True)
    return {
        **joint_errors_mm(lm_p, lm_t),
        "pve": 1000 * np.linalg.norm((pred_vertices_cam_m - hip_p) - (truth_vertices_cam_m - hip_t), axis=-1).mean(1),
    }


def summary(errors: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: round(float(values.mean()), 1) for name, values in errors.items()}


def sized(vertices_m: np.ndarray, how: str) -> np.ndarray:
    """One clip's meshes (F, V, 3), frames in order -> each scaled about its hip centre to the clip's size as the
    mesh stage holds it: ``"steady"``, the running median of the sizes so far (``mocap.mesh.size.TrackSizes``, causal:
    what live and offline runs write per frame); ``"track"``, the median over the whole clip (the offline pass,
    ``mocap.mesh.size.track_size_scales``: one person per clip here)."""
    joints = regress_landmarks(torch.from_numpy(np.ascontiguousarray(vertices_m, np.float32))).numpy()
    size = skeleton_size_m(joints)  # (F,)
    if how == "steady":
        sizes, ids = TrackSizes(), np.ones(1, np.int64)
        target = np.concatenate([sizes.steady(ids, size[i : i + 1]) for i in range(len(size))])
    else:
        target = np.full(len(size), np.median(size))
    hips = joints[:, HIPS].mean(axis=1, keepdims=True)  # (F, 1, 3)
    return hips + (target / size)[:, None, None] * (vertices_m - hips)


def rotate(canonical_m: torch.Tensor, rotation: torch.Tensor) -> np.ndarray:
    """(B, V, 3) canonical meshes, (B, 3, 3) canonical -> camera rotations -> (B, V, 3) camera-frame numpy."""
    return (canonical_m @ rotation.transpose(1, 2)).numpy()


def decode(tokenizer: MeshVQVAE, ids: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(M, N) ids -> (M, V, 3) canonical meshes on the CPU, in chunks (memory), on the tokenizer's device."""
    device = tokenizer.vq_vae.codebook.device
    return torch.cat([tokenizer.decode(part.to(device)).cpu() for part in ids.split(chunk)])


def decode_embeddings(tokenizer: MeshVQVAE, z: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(M, N, C) code embeddings -> (M, V, 3) canonical meshes on the CPU, in chunks, on the tokenizer's device."""
    device = tokenizer.vq_vae.codebook.device
    return torch.cat([tokenizer.decode_embeddings(part.to(device)).cpu() for part in z.split(chunk)])


@torch.no_grad()
def mirror_averaged(
    predictor: MegaPredictor,
    tokenizer: MeshVQVAE,
    crops: Crops,
    threshold: float,
    seen_mirrored: Crops | None = None,
) -> np.ndarray:
    """The pipeline's deterministic mesh: expected decode, averaged with the mirror image's answer (mirrored back)
    for the crops the flipped frame measured (``seen_mirrored``) and those whose cheap uncertainty is above
    ``threshold`` (``mocap.mesh.mirror.average_twins``) -> (B, V, 3), camera orientation, not centred."""

    def answer(seen: Crops) -> tuple[Answer, np.ndarray]:
        p = predictor.predict(seen)
        assert p.embeddings is not None
        mesh = decode_embeddings(tokenizer, torch.from_numpy(p.embeddings))
        rotation = rotation_6d_to_matrix(torch.from_numpy(p.rotation_6d))
        return (mesh, rotation, torch.from_numpy(p.camera)), p.uncertainty

    first, uncertainty = answer(crops)
    mirror = torch.from_numpy(load_vertex_mirror())
    canonical, rotation, _ = average_twins(
        crops, uncertainty, threshold, first, lambda t: answer(t)[0], mirror, seen_mirrored
    )
    return rotate(canonical, rotation)


# -- sections -----------------------------------------------------------------------------------------


@torch.no_grad()
def bench_synthetic(model: Mega, tokenizer: MeshVQVAE, crops: int, sampled: int, seed: int) -> dict:
    from mocap.motion.dataset import MotionDataset

    rng = np.random.default_rng(seed)
    truth = torch.from_numpy(MotionDataset.load().sample_canonical_meshes("test", crops, rng))  # (B, V, 3)
    ids = tokenizer.encode(truth)
    generator = torch.Generator().manual_seed(seed)
    batch = synthesize_landmarks(
        ids, regress_landmarks(truth), generator, LandmarkSynthesis(with_world=model.config.cond_dim == 6)
    )
    assert batch.cond is not None and batch.rotation_6d is not None
    R_true = rotation_6d_to_matrix(batch.rotation_6d)
    argmax, out = model.argmax(batch.cond, crops)
    assert out.rotation_6d is not None
    R_pred = rotation_6d_to_matrix(out.rotation_6d)
    pred = decode(tokenizer, argmax.ids)
    truth_cam = rotate(truth, R_true)
    argmax_errors = errors_mm(rotate(pred, R_pred), truth_cam)
    with_true_rotation = errors_mm(rotate(pred, R_true), truth_cam)
    soft = decode_embeddings(tokenizer, out.logits.softmax(dim=-1) @ tokenizer.vq_vae.codebook)
    expected_errors = errors_mm(rotate(soft, R_pred), truth_cam)
    floor = errors_mm(rotate(decode(tokenizer, ids), R_true), truth_cam)
    rotation_deg = torch.rad2deg(
        torch.arccos(((R_pred.transpose(1, 2) @ R_true).diagonal(dim1=1, dim2=2).sum(-1) - 1).div(2).clamp(-1, 1))
    )

    # Best-of-K and uncertainty on the first `sampled` crops: K=25 samples in 5 steps, all with MEGA's rotation.
    m, K = sampled, max(KS)
    samples = model.sample(batch.cond[:m], m, K, steps=5, generator=torch.Generator().manual_seed(seed))  # (m, K, N)
    sample_meshes = decode(tokenizer, samples.reshape(m * K, -1)).view(m, K, -1, 3)
    per_sample = errors_mm(
        rotate(sample_meshes.flatten(0, 1), R_pred[:m].repeat_interleave(K, 0)), truth_cam[:m].repeat(K, 0)
    )
    best_of_k = {
        f"K={k}": {name: round(float(v.reshape(m, K)[:, :k].min(1).mean()), 1) for name, v in per_sample.items()}
        for k in KS
    }
    vertex_sd = vertex_uncertainty(sample_meshes)  # (m, V) metres, canonical frame
    vertex_error = (pred[:m] - truth[:m]).norm(dim=-1)  # (m, V) canonical frame (both vertex-mean centred)
    per_crop_rho = [spearmanr(vertex_sd[i], vertex_error[i]).statistic for i in range(m)]
    return {
        "crops": crops,
        "argmax": summary(argmax_errors),
        "expected": summary(expected_errors),
        "argmax_with_true_rotation": summary(with_true_rotation),
        "rotation_error_deg": {
            "mean": round(float(rotation_deg.mean()), 1),
            "median": round(float(rotation_deg.median()), 1),
        },
        "tokenizer_floor": summary(floor),
        "token_accuracy": round(float((argmax.ids == ids).float().mean()), 3),
        "best_of_k": {"crops": m, "steps": 5, **best_of_k},
        "uncertainty": {
            "crops": m,
            "rho_vertex_pooled": round(float(spearmanr(vertex_sd.flatten(), vertex_error.flatten()).statistic), 3),
            "rho_vertex_per_crop_mean": round(float(np.nanmean(per_crop_rho)), 3),
            "rho_argmax_vs_sampled_per_crop": round(
                float(spearmanr(argmax.uncertainty[:m], vertex_sd.mean(1)).statistic), 3
            ),
            "rho_argmax_vs_crop_pve": round(float(spearmanr(argmax.uncertainty, argmax_errors["pve"]).statistic), 3),
        },
    }


def detect_clip(clip: Path, cache: Path) -> dict[str, np.ndarray]:
    """MediaPipe on every frame of ``clip`` and on its flipped frames (cached npz): frame index, landmarks px, world,
    box of the best person, and what the flipped frame showed of that person (``mirror_*``, NaN where nobody)."""
    path = cache / f"{clip.stem}.detections.npz"
    if path.exists() and "mirror_landmarks_px" in (cached := dict(np.load(path))):
        return cached
    from mocap.detect.pose import DetectConfig, PoseDetector
    from mocap.io.sources import open_source

    names = (
        "frame_index",
        "landmarks_px",
        "landmarks_world_m",
        "xyxy_px",
        "mirror_landmarks_px",
        "mirror_landmarks_world_m",
    )
    rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with open_source(clip) as source, PoseDetector(DetectConfig(max_people=1, mirror_view=True)) as detector:
        for frame in source:
            detections = detector.detect(frame)
            if len(detections):
                best = int(np.argmax(detections.score))
                assert detections.mirror is not None
                rows["frame_index"].append(np.asarray(frame.index, np.int64))
                rows["landmarks_px"].append(detections.landmarks_px[best])
                rows["landmarks_world_m"].append(detections.landmarks_world_m[best])
                rows["xyxy_px"].append(detections.xyxy_px[best])
                rows["mirror_landmarks_px"].append(detections.mirror.landmarks_px[best])
                rows["mirror_landmarks_world_m"].append(detections.mirror.landmarks_world_m[best])
    arrays = {name: np.stack(values) for name, values in rows.items()}
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return arrays


def clip_crops(detections: dict[str, np.ndarray]) -> Crops:
    """The pipeline's crops: ``square_crops`` around the landmarks, ``to_crop`` coordinates, visibility kept."""
    from mocap.mesh.crop import square_crops, to_crop

    landmarks = detections["landmarks_px"]
    center, size = square_crops(landmarks, detections["xyxy_px"])
    xy = to_crop(landmarks[..., :2], center, size)
    return Crops(
        track_id=np.ones(len(landmarks), np.int64),
        center_px=center,
        size_px=size,
        landmarks_crop=np.concatenate([xy, landmarks[..., 2:]], axis=-1).astype(np.float32),
        landmarks_world_m=detections["landmarks_world_m"].astype(np.float32),
    )


def clip_mirror_view(detections: dict[str, np.ndarray]) -> MirrorView:
    """What the flipped frames showed of the person (NaN rows where nobody), as ``Detections.mirror``."""
    return MirrorView(detections["mirror_landmarks_px"], detections["mirror_landmarks_world_m"])


def validation_clips(cache: Path, count: int) -> list[Path]:
    """The first ``count`` clips of ``mocap data renders --split validation`` (seeds 0.., 2 s), rendered into
    ``cache`` with their ground truth when missing: the validation subjects' videos, for choosing models."""
    from mocap.synth.clip import SynthConfig, Synthesizer
    from mocap.synth.motions import random_performances

    clips, synthesizer = [], None
    for seed in range(count):
        video = cache / f"validation_{seed:05d}.mp4"
        if not video.exists():
            config = SynthConfig(seconds=2.0, seed=seed)
            synthesizer = synthesizer or Synthesizer(config)
            synthesizer.config = config
            partial = cache / "validation.partial.mp4"
            synthesizer.synthesize(
                random_performances(config, "validation"), partial, video.with_suffix(".gt.zarr"), overwrite=True
            )
            partial.rename(video)
        clips.append(video)
    return clips


@torch.no_grad()
def bench_mediapipe(
    model: Mega, tokenizer: MeshVQVAE, lifter: Lifter, clips: list[Path], cache: Path, policy: PolicyConfig
) -> tuple[dict, Crops]:
    from mocap.body.anny_body import AnnyBody
    from mocap.io.store import open_store

    body = AnnyBody("default")
    predictor = MegaPredictor(model, codebook=tokenizer.vq_vae.codebook)
    threshold = PolicyConfig().mirror_threshold
    all_crops, mega, expected, mirrored, mirrored_all, baseline, floor, per_clip = [], [], [], [], [], [], [], {}
    viewed, baseline_viewed, mirrored_world, viewed_world = [], [], [], []
    lifted, lifted_viewed, mirrored_fused, viewed_fused = [], [], [], []
    mirrored_steady: list[dict[str, np.ndarray]] = []
    viewed_sized: dict[str, list[dict[str, np.ndarray]]] = {}
    share = 0.2  # session 9's default, world landmarks alone

    def fused(vertices: np.ndarray, world: np.ndarray) -> np.ndarray:
        return fuse_world_landmarks(torch.from_numpy(vertices), world, share).numpy()

    def fused_default(vertices: np.ndarray, crops: Crops, seen_mirrored: Crops | None) -> np.ndarray:
        """The mesh stage's fusion: toward the lifter's joints and MediaPipe's world landmarks, shares of policy."""
        estimates = [
            (lift_joints(lifter, crops, seen_mirrored), policy.lift_share),
            (body_joints(world_landmarks(crops, seen_mirrored)), policy.world_share),
        ]
        return fuse_joint_estimates(torch.from_numpy(vertices), estimates).numpy()

    for clip in clips:
        detections = detect_clip(clip, cache)
        truth_store = open_store(clip.with_suffix(".gt.zarr"))
        track = truth_store.track(1)
        rows = np.searchsorted(track.frame_index, detections["frame_index"])
        truth_cam = track["vertices_cam_m"][rows].astype(np.float32)  # (F, V, 3)
        truth_lm = track["landmarks_cam_m"][rows]
        crops = clip_crops(detections)
        predictions = predictor.predict(crops)
        pred = decode(tokenizer, torch.from_numpy(predictions.ids))
        rotation = rotation_6d_to_matrix(torch.from_numpy(predictions.rotation_6d))
        errors = errors_mm(rotate(pred, rotation), truth_cam)
        assert predictions.embeddings is not None
        soft = decode_embeddings(tokenizer, torch.from_numpy(predictions.embeddings))
        expected.append(errors_mm(rotate(soft, rotation), truth_cam))
        live_mesh = mirror_averaged(predictor, tokenizer, crops, threshold)
        mirrored.append(errors_mm(live_mesh, truth_cam))
        mirrored_world.append(errors_mm(fused(live_mesh, world_landmarks(crops)), truth_cam))
        live_fused_mesh = fused_default(live_mesh, crops, None)
        mirrored_fused.append(errors_mm(live_fused_mesh, truth_cam))
        mirrored_steady.append(errors_mm(sized(live_fused_mesh, "steady"), truth_cam))
        mirrored_all.append(errors_mm(mirror_averaged(predictor, tokenizer, crops, 0.0), truth_cam))
        seen_mirrored = mirror_view_crops(crops, clip_mirror_view(detections))
        view_mesh = mirror_averaged(predictor, tokenizer, crops, threshold, seen_mirrored)
        viewed.append(errors_mm(view_mesh, truth_cam))
        viewed_world.append(errors_mm(fused(view_mesh, world_landmarks(crops, seen_mirrored)), truth_cam))
        view_fused_mesh = fused_default(view_mesh, crops, seen_mirrored)
        viewed_fused.append(errors_mm(view_fused_mesh, truth_cam))
        for how in ("steady", "track"):
            viewed_sized.setdefault(how, []).append(errors_mm(sized(view_fused_mesh, how), truth_cam))
        truth_joints = body_joints(truth_lm)
        lifted.append(body_joint_errors_mm(lift_joints(lifter, crops), truth_joints))
        lifted_viewed.append(body_joint_errors_mm(lift_joints(lifter, crops, seen_mirrored), truth_joints))
        # MediaPipe's own two-view mean: the baseline with the same second measurement MEGA gets.
        baseline_viewed.append(joint_errors_mm(world_landmarks(crops, seen_mirrored), truth_lm))
        mp = joint_errors_mm(detections["landmarks_world_m"], truth_lm)
        canonical = body.canonical_vertices(
            torch.from_numpy(track["pose_rotmat"][rows]), torch.from_numpy(track["phenotype"][rows])
        )
        floor.append(errors_mm(decode(tokenizer, tokenizer.encode(canonical)).numpy(), canonical.numpy()))
        mega.append(errors)
        baseline.append(mp)
        all_crops.append(crops)
        per_clip[clip.name] = {
            "motion": truth_store.attrs["synthetic"]["people"][0]["motion"],
            "frames": len(track),
            "detected": len(rows),
            "mega": summary(errors),
            "mega_expected": summary(expected[-1]),
            "mega_expected_mirror": summary(mirrored[-1]),
            "mega_expected_mirror_all": summary(mirrored_all[-1]),
            "mega_mirror_view": summary(viewed[-1]),
            "mega_expected_mirror_world": summary(mirrored_world[-1]),
            "mega_mirror_view_world": summary(viewed_world[-1]),
            "mega_expected_mirror_fused": summary(mirrored_fused[-1]),
            "mega_mirror_view_fused": summary(viewed_fused[-1]),
            "lifter": summary(lifted[-1]),
            "lifter_mirror_view": summary(lifted_viewed[-1]),
            "mediapipe": summary(mp),
            "mediapipe_mirror_view": summary(baseline_viewed[-1]),
            "mirror_view_found": float(np.isfinite(detections["mirror_landmarks_px"]).all(axis=(1, 2)).mean()),
        }

    def joined(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    crops = Crops(**{f: np.concatenate([getattr(c, f) for c in all_crops]) for f in Crops.__dataclass_fields__})
    mega_all, mp_all = summary(joined(mega)), summary(joined(baseline))
    # Per motion collection (the text before "/" in the motion name): which kinds of motion are hard.
    by_collection: dict[str, dict] = {}
    for i, values in enumerate(per_clip.values()):
        by_collection.setdefault(values["motion"].split("/")[0], {"rows": []})["rows"].append(i)
    for entry in by_collection.values():
        rows = entry.pop("rows")
        entry.update(
            clips=len(rows),
            mega_expected=summary(joined([expected[i] for i in rows])),
            mega_expected_mirror=summary(joined([mirrored[i] for i in rows])),
            mega_expected_mirror_all=summary(joined([mirrored_all[i] for i in rows])),
            mega_mirror_view=summary(joined([viewed[i] for i in rows])),
            mega_expected_mirror_world=summary(joined([mirrored_world[i] for i in rows])),
            mega_mirror_view_world=summary(joined([viewed_world[i] for i in rows])),
            mega_expected_mirror_fused=summary(joined([mirrored_fused[i] for i in rows])),
            mega_mirror_view_fused=summary(joined([viewed_fused[i] for i in rows])),
            lifter_mirror_view=summary(joined([lifted_viewed[i] for i in rows])),
            mediapipe=summary(joined([baseline[i] for i in rows])),
            mediapipe_mirror_view=summary(joined([baseline_viewed[i] for i in rows])),
        )
    return {
        "frames": int(sum(len(c) for c in all_crops)),
        "mega_argmax": mega_all,
        "mega_expected": (expected_all := summary(joined(expected))),
        "mirror_threshold": threshold,
        "mega_expected_mirror": (mirror_default := summary(joined(mirrored))),
        "mega_expected_mirror_all": summary(joined(mirrored_all)),
        "mega_mirror_view": (view_all := summary(joined(viewed))),
        "world_share": share,
        "mega_expected_mirror_world": (live_world := summary(joined(mirrored_world))),
        "mega_mirror_view_world": (view_world := summary(joined(viewed_world))),
        "lift_share": policy.lift_share,
        "fused_world_share": policy.world_share,
        "mega_expected_mirror_fused": (live_fused := summary(joined(mirrored_fused))),
        "mega_mirror_view_fused": (view_fused := summary(joined(viewed_fused))),
        "lifter": summary(joined(lifted)),
        "lifter_mirror_view": summary(joined(lifted_viewed)),
        "mega_expected_mirror_fused_steady": summary(joined(mirrored_steady)),
        **{f"mega_mirror_view_fused_{how}": summary(joined(parts)) for how, parts in viewed_sized.items()},
        "mediapipe_world": mp_all,
        "mediapipe_world_mirror_view": (mp_view_all := summary(joined(baseline_viewed))),
        "mpjpe_change_vs_mediapipe": round(mega_all["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view": round(view_all["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view_both": round(view_all["mpjpe"] / mp_view_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view_world": round(view_world["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view_world_both": round(view_world["mpjpe"] / mp_view_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_expected_mirror_world": round(live_world["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view_fused": round(view_fused["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_mirror_view_fused_both": round(view_fused["mpjpe"] / mp_view_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_expected_mirror_fused": round(live_fused["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_expected": round(expected_all["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "mpjpe_change_vs_mediapipe_expected_mirror": round(mirror_default["mpjpe"] / mp_all["mpjpe"] - 1, 3),
        "tokenizer_floor": summary(joined(floor)),
        "by_collection": by_collection,
        "clips": per_clip,
    }, crops


def rendered_mirror_errors_mm(
    model: Mega, tokenizer: MeshVQVAE, examples: RenderedExamples, threshold: float
) -> dict[str, float]:
    """``mirror_averaged`` on detector-measured validation examples -> mean MPJPE / PA-MPJPE mm."""
    predictor = MegaPredictor(model, codebook=tokenizer.vq_vae.codebook)
    truth = torch.from_numpy(examples.keypoints_canonical_m) @ rotation_6d_to_matrix(
        torch.from_numpy(examples.rotation_6d)
    ).transpose(1, 2)
    rows = np.array_split(np.arange(len(examples)), max(1, len(examples) // 128))
    predicted = np.concatenate(
        [
            regress_landmarks(torch.from_numpy(mirror_averaged(predictor, tokenizer, examples.crops(r), threshold)))
            for r in rows
        ]
    )
    errors = joint_errors_mm(predicted, truth.numpy())
    return {name: round(float(v.mean()), 1) for name, v in errors.items()}


def median_ms(run, repeats: int) -> float:
    def synchronised() -> None:  # a GPU runs its kernels after the call returns: wait for them
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    synchronised()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        synchronised()
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 1)


@torch.no_grad()
def bench_policy_calibration(model: Mega, tokenizer: MeshVQVAE, examples: RenderedExamples, every: int = 3) -> dict:
    """The fit ``mocap train spread`` makes, re-measured for this model (same crops, K and seed)."""
    from mocap.mesh.policy import PolicyConfig
    from mocap.mesh.spread import fit_spread_prior, fit_summary, sample_spreads

    policy, crops = PolicyConfig(), examples.crops(np.arange(0, len(examples), every))
    u, spread = sample_spreads(MegaPredictor(model), tokenizer, crops, policy.num_samples)
    prior, m = fit_spread_prior(u, spread), spread.mean(axis=1)
    return {
        "crops": len(crops),
        "samples": policy.num_samples,
        "cheap_uncertainty_percentiles_5_25_50_75_95": np.percentile(u, [5, 25, 50, 75, 95]).round(3).tolist(),
        "spread_mm_percentiles_5_25_50_75_95": (1000 * np.percentile(m, [5, 25, 50, 75, 95])).round(1).tolist(),
        **{f"fit_{name}": value for name, value in fit_summary(u, spread, prior).items()},
        "spearman_rho": round(float(spearmanr(u, m)[0]), 3),
        "policy_threshold": policy.uncertainty_threshold,
        "share_above_threshold": round(float(np.mean(u > policy.uncertainty_threshold)), 3),
    }


@torch.no_grad()
def bench_speed(model: Mega, tokenizer: MeshVQVAE, crops: Crops, device: torch.device | None = None) -> dict:
    """Per-crop times on one crop of ``crops``; on ``device`` (default: where ``model`` is), answers back on the CPU
    as the pipeline needs them."""
    device = device or next(model.parameters()).device
    model, tokenizer = model.to(device), tokenizer.to(device)
    predictor = MegaPredictor(model, SamplingConfig(steps=5), device)
    expected = MegaPredictor(model, device=device, codebook=tokenizer.vq_vae.codebook)

    def sampled(n: int = 1) -> None:
        samples = predictor.predict(crops[:n], num_samples=16).samples  # (n, 16, N)
        assert samples is not None
        tokenizer.decode(torch.from_numpy(samples.reshape(-1, samples.shape[-1])).to(device)).cpu()

    world = torch.from_numpy(crops.landmarks_world_m[:1])
    features = landmark_features(torch.from_numpy(crops.landmarks_crop[:1]), world).float().to(device)
    argmax_ms = median_ms(lambda: predictor.predict(crops[:1]), 30)
    forward_ms = median_ms(lambda: model.argmax(features, 1), 30)
    mesh_ids = torch.zeros(16, 54, dtype=torch.long, device=device)
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "argmax_ms_batch1_per_crop": argmax_ms,
        # Same run baseline: the training view's one forward pass (conditioning, encoder, decoder) on that crop; the
        # predictor skips the encoder, whose all-masked output it computed once.
        "model_forward_ms_batch1": forward_ms,
        "argmax_vs_model_forward": round(argmax_ms / forward_ms, 2),
        "argmax_ms_batch4_per_crop": round(median_ms(lambda: predictor.predict(crops[:4]), 30) / 4, 1),
        "k16_steps5_with_decode_ms_per_crop": median_ms(sampled, 10),
        # Four people in a frame share the passes and the decode (the pipeline batches a frame's crops).
        "k16_steps5_with_decode_ms_batch4_per_crop": round(median_ms(lambda: sampled(4), 5) / 4, 1),
        # The pipeline's deterministic mesh per person (argmax pass + expected decode), alone and mirror-averaged.
        "expected_mesh_ms_per_crop": median_ms(
            lambda: tokenizer.decode_embeddings(torch.from_numpy(expected.predict(crops[:1]).embeddings).to(device)),
            30,
        ),
        "expected_mesh_mirror_ms_per_crop": median_ms(lambda: mirror_averaged(expected, tokenizer, crops[:1], 0.0), 30),
        "decode_one_mesh_ms": median_ms(lambda: tokenizer.decode(mesh_ids[:1]).cpu(), 30),
        "decode_16_meshes_ms": median_ms(lambda: tokenizer.decode(mesh_ids).cpu(), 10),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/mega_anny/mega.pt"))
    parser.add_argument("--tokenizer", type=Path, default=Path("models/tokenizer_anny/tokenizer.pt"))
    parser.add_argument("--lifter", type=Path, default=Path("models/lifter_anny/lifter.pt"))
    parser.add_argument("--clips", nargs="*", type=Path, default=[], help="mocap synth videos with CLIP.gt.zarr")
    parser.add_argument(
        "--renders", type=Path, help="a `mocap data renders --split validation` folder: MEGA vs MediaPipe on it"
    )
    parser.add_argument(
        "--validation-clips",
        type=int,
        default=0,
        metavar="N",
        help="also the mediapipe section on the first N validation clips of `mocap data renders --split validation`, "
        "rendered as videos into --cache (30 = the --renders set; for choosing between pipelines)",
    )
    parser.add_argument("--skip-synthetic", action="store_true", help="only the --renders / --clips sections")
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="re-measure only the speed section (on the first --clips clip's crops); --out keeps its other sections",
    )
    parser.add_argument(
        "--skip-speed", action="store_true", help="keep --out's speed section (e.g. while other jobs load the CPU)"
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench_mega"), help="MediaPipe detections")
    parser.add_argument("--crops", type=int, default=256, help="synthetic test crops")
    parser.add_argument("--sampled", type=int, default=48, help="crops with K=25 samples (best-of-K, uncertainty)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lift-share", type=float, default=PolicyConfig.lift_share, help="the fused sections' share")
    parser.add_argument("--world-share", type=float, default=PolicyConfig.world_share, help="the fused sections' share")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--device", default="cpu", help="where the speed section runs (cpu, cuda, auto); written as speed_<device>"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/mega.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    speed_key = "speed" if device.type == "cpu" else f"speed_{device.type}"  # the CPU figures stay where they were
    args.cache.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_trained(args.model).float(), MeshVQVAE.load(args.tokenizer).eval()
    lifter = load_lifter(args.lifter)
    policy = PolicyConfig(lift_share=args.lift_share, world_share=args.world_share)
    # Sections this run does not measure are kept from --out (each section says what it measured).
    kept = json.loads(args.out.read_text()) if args.out.exists() else {}
    result: dict = {
        **kept,
        "model": str(args.model),
        "preset": {k: getattr(model.config, k) for k in ("emb_dim", "encoder_layer", "decoder_layer", "encoder_head")},
        "parameters": parameter_count(model),
        "tokenizer": str(args.tokenizer),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared",
        "joints": "12 BlazePose body landmarks from the mesh regressor; hip-centred, camera frame; PA = similarity",
    }
    if args.speed_only:
        if not args.clips:
            parser.error("--speed-only measures on the crops of the first --clips clip; pass one")
        crops = clip_crops(detect_clip(args.clips[0], args.cache))
        result[speed_key] = bench_speed(model, tokenizer, crops, device)
        args.out.write_text(json.dumps(result, indent=2))
        print(json.dumps(result[speed_key], indent=2))
        return
    if not args.skip_synthetic:
        result["synthetic"] = bench_synthetic(model, tokenizer, args.crops, args.sampled, args.seed)
    if args.renders is not None:
        validation = RenderedExamples.load_folder(args.renders)
        result["rendered_validation"] = rendered_errors_mm(model, tokenizer, validation)
        thresholds = {"mega_expected_mirror": PolicyConfig().mirror_threshold, "mega_expected_mirror_all": 0.0}
        for name, threshold in thresholds.items():
            result["rendered_validation"][name] = rendered_mirror_errors_mm(model, tokenizer, validation, threshold)
        result["policy_calibration"] = bench_policy_calibration(model, tokenizer, validation)
    if args.validation_clips:
        clips = validation_clips(args.cache, args.validation_clips)
        result["mediapipe_validation"], _ = bench_mediapipe(model, tokenizer, lifter, clips, args.cache, policy)
        result["mediapipe_validation"].pop("clips")
    if args.clips:
        result["mediapipe"], crops = bench_mediapipe(model, tokenizer, lifter, args.clips, args.cache, policy)
        if not args.skip_speed:
            result[speed_key] = bench_speed(model, tokenizer, crops, device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
