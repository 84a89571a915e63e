"""Refinement onto the detector's landmarks (``mocap.mesh.refine``, ``mocap run --refine``) -> ``results/refine.json``.

MEGA's deterministic mesh (expected decoding) before and after ``refine_to_landmarks``, on MediaPipe's landmarks of
``mocap synth`` renders, against MediaPipe's own world landmarks:

- ``validation`` (``--renders``, a ``mocap data renders --split validation`` folder): every configuration of
  ``--grid`` on every ``--stride``-th example; this is where ``RefineConfig``'s defaults were chosen.
- ``test`` (``--clips``, the held-out renders of ``bench_mega.py``): the default configuration only.
- per set, ``mirror``: the same without and with the default refinement, where the argmax pass's cheap uncertainty
  is above ``PolicyConfig.mirror_threshold`` averaged with the answer for the crop's mirror image
  (``mocap.mesh.mirror``, the pipeline's default; refinement then refines both).

Per set: 3-D MPJPE / PA-MPJPE (mm, 12 body joints, hip-centred camera frame, as ``mocap.mega.evaluate``), and the
2-D miss: mean distance (crop units x 1000, i.e. per mille of half the crop side) between the 12 body joints of
the mesh projected through its crop camera and the TRUE 2-D joints, beside MediaPipe's own 2-D miss. Time: per crop
and iteration, batch of up to 150 crops, one thread.

Example (repository root, after ``bench_mega.py`` cached its detections):
    python benchmarks/bench_refine.py --renders .cache/renders_val --clips .cache/bench_mega/s*.mp4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_mega import clip_crops, detect_clip

from mocap.body.landmarks import regress_landmarks
from mocap.body.rotations import rotation_6d_to_matrix
from mocap.body.symmetry import LANDMARK_MIRROR
from mocap.io.store import open_store
from mocap.mega.evaluate import BODY_12, joint_errors_mm
from mocap.mega.geometry import weak_perspective_project
from mocap.mega.model import Mega
from mocap.mega.rendered import RenderedExamples
from mocap.mega.train import load_trained
from mocap.mesh.crop import to_crop
from mocap.mesh.mirror import mean_rotation, mirror_camera, mirror_rotation
from mocap.mesh.policy import PolicyConfig
from mocap.mesh.refine import RefineConfig, posed_landmarks, refine_to_landmarks
from mocap.tokenizer.model import MeshVQVAE

GRID = [  # (iterations, lr, prior_weight, world_weight)
    (10, 0.05, 1.0, 1.0),
    (10, 0.05, 1.0, 0.5),
    (10, 0.05, 3.0, 1.0),
    (10, 0.05, 3.0, 0.5),
    (10, 0.05, 3.0, 0.0),
    (10, 0.05, 10.0, 0.5),
    (5, 0.1, 1.0, 1.0),
    (20, 0.05, 3.0, 0.5),
]


def evaluate(
    tokenizer: MeshVQVAE, start: dict[str, torch.Tensor], sets: dict[str, torch.Tensor], config: RefineConfig | None
) -> dict[str, float]:
    """MPJPE / PA-MPJPE / 2-D miss of the mesh from ``start`` (refined by ``config`` unless None), in chunks."""
    joints, projected, seconds = [], [], 0.0
    for i in range(0, len(start["z"]), 150):
        part = {name: value[i : i + 150] for name, value in {**start, **sets}.items()}
        z, rotation_6d, camera = part["z"], part["rotation_6d"], part["camera"]
        if config is not None:
            tic = time.perf_counter()
            refined = refine_to_landmarks(
                tokenizer, z, rotation_6d, camera, part["landmarks_crop"], part["world_m"], config
            )
            seconds += time.perf_counter() - tic
            z, rotation_6d, camera = refined.z, refined.rotation_6d, refined.camera
        with torch.no_grad():
            landmarks_cam_m, crop = posed_landmarks(tokenizer, z, rotation_6d, camera)
        joints.append(landmarks_cam_m)
        projected.append(crop)
    errors = joint_errors_mm(torch.cat(joints).numpy(), sets["truth_cam_m"].numpy())
    miss = (torch.cat(projected) - sets["truth_crop"])[:, BODY_12].norm(dim=-1).mean()
    result = {name: round(float(v.mean()), 1) for name, v in errors.items()}
    result["miss_2d_permille"] = round(1000 * float(miss), 1)
    if config is not None and config.iterations:
        result["ms_per_crop_iteration"] = round(1000 * seconds / len(start["z"]) / config.iterations, 1)
    return result


def mirrored_sets(sets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same examples seen in a mirror: x -> -x and left <-> right for every landmark set (truths included)."""
    flip = torch.tensor([-1.0, 1.0, 1.0, -1.0, 1.0, 1.0])
    return {name: value[:, LANDMARK_MIRROR] * flip[: value.shape[-1]] for name, value in sets.items()}


def evaluate_mirrored(
    tokenizer: MeshVQVAE,
    starts: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    sets: dict[str, torch.Tensor],
    config: RefineConfig | None,
) -> dict[str, float]:
    """``evaluate`` for the pipeline's mirror average: each of (crop, mirror image) answered (and refined), then
    averaged where the crop's cheap uncertainty (``starts[0]["uncertainty"]``) is above the policy's threshold."""
    answers = []
    for start, seen in zip(starts, (sets, mirrored_sets(sets)), strict=True):
        z, rotation_6d, camera = start["z"], start["rotation_6d"], start["camera"]
        if config is not None:
            refined = refine_to_landmarks(
                tokenizer, z, rotation_6d, camera, seen["landmarks_crop"], seen["world_m"], config
            )
            z, rotation_6d, camera = refined.z, refined.rotation_6d, refined.camera
        with torch.no_grad():
            canonical = regress_landmarks(torch.cat([tokenizer.decode_embeddings(p) for p in z.split(150)]))
        answers.append((canonical, rotation_6d_to_matrix(rotation_6d), camera))
    (lm, rot, cam), (lm_m, rot_m, cam_m) = answers
    flip = torch.tensor([-1.0, 1.0, 1.0])
    doubtful = (starts[0]["uncertainty"] > PolicyConfig().mirror_threshold)[:, None, None]
    canonical = torch.where(doubtful, (lm + lm_m[:, LANDMARK_MIRROR] * flip) / 2, lm)  # landmarks: linear in vertices
    rotation = torch.where(doubtful, mean_rotation(rot, mirror_rotation(rot_m)), rot)
    camera = torch.where(doubtful[:, 0], (cam + mirror_camera(cam_m)) / 2, cam)
    landmarks_cam_m = canonical @ rotation.mT
    projected = weak_perspective_project(landmarks_cam_m, camera)
    errors = joint_errors_mm(landmarks_cam_m.numpy(), sets["truth_cam_m"].numpy())
    miss = (projected - sets["truth_crop"])[:, BODY_12].norm(dim=-1).mean()
    result = {name: round(float(v.mean()), 1) for name, v in errors.items()}
    return {**result, "miss_2d_permille": round(1000 * float(miss), 1)}


def baseline(sets: dict[str, torch.Tensor]) -> dict[str, float]:
    """MediaPipe's world landmarks (3-D) and its 2-D landmarks (2-D miss) on the same examples."""
    errors = joint_errors_mm(sets["world_m"].numpy(), sets["truth_cam_m"].numpy())
    miss = (sets["landmarks_crop"][..., :2] - sets["truth_crop"])[:, BODY_12].norm(dim=-1).mean()
    return {
        **{n: round(float(v.mean()), 1) for n, v in errors.items()},
        "miss_2d_permille": round(1000 * float(miss), 1),
    }


@torch.no_grad()
def mega_start(model: Mega, tokenizer: MeshVQVAE, cond: torch.Tensor) -> dict[str, torch.Tensor]:
    """MEGA's argmax pass on landmark features (M, 33, 6) -> cheap uncertainty, expected z, rotation 6D, crop camera."""
    argmax, out = model.argmax(cond, len(cond))
    assert out.rotation_6d is not None and out.camera is not None
    return {
        "uncertainty": argmax.uncertainty,
        "z": out.logits.softmax(-1) @ tokenizer.vq_vae.codebook,
        "rotation_6d": out.rotation_6d,
        "camera": out.camera,
    }


def validation_sets(folder: Path, stride: int) -> dict[str, torch.Tensor]:
    examples = RenderedExamples.load_folder(folder)
    cond = torch.from_numpy(examples.cond[::stride])
    rotation = rotation_6d_to_matrix(torch.from_numpy(examples.rotation_6d[::stride]))
    return {
        "cond": cond,
        "landmarks_crop": cond[..., :3],
        "world_m": cond[..., 3:6],
        "truth_cam_m": torch.from_numpy(examples.keypoints_canonical_m[::stride]) @ rotation.mT,
        "truth_crop": torch.from_numpy(examples.keypoints_crop[::stride, :, :2]),
    }


def test_sets(clips: list[Path], cache: Path) -> dict[str, torch.Tensor]:
    parts: dict[str, list[np.ndarray]] = {"landmarks_crop": [], "world_m": [], "truth_cam_m": [], "truth_crop": []}
    for clip in clips:
        detections = detect_clip(clip, cache)
        store = open_store(clip.with_suffix(".gt.zarr"))
        track = store.track(1)
        truth = track["landmarks_cam_m"][np.searchsorted(track.frame_index, detections["frame_index"])]
        k = np.asarray(store.attrs["intrinsics"])
        crops = clip_crops(detections)
        parts["landmarks_crop"].append(crops.landmarks_crop)
        parts["world_m"].append(crops.landmarks_world_m)
        parts["truth_cam_m"].append(truth)
        parts["truth_crop"].append(
            to_crop(truth[..., :2] / truth[..., 2:] * k[0, 0] + k[:2, 2], crops.center_px, crops.size_px)
        )
    sets = {name: torch.from_numpy(np.concatenate(p).astype(np.float32)) for name, p in parts.items()}
    sets["cond"] = torch.cat([sets["landmarks_crop"], sets["world_m"]], dim=-1)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/mega_anny/mega.pt"))
    parser.add_argument("--tokenizer", type=Path, default=Path("models/tokenizer_anny/tokenizer.pt"))
    parser.add_argument("--renders", type=Path, help="validation renders: the grid")
    parser.add_argument("--stride", type=int, default=6, help="every n-th validation example")
    parser.add_argument("--clips", nargs="*", type=Path, default=[], help="test renders (bench_mega.py's clips)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench_mega"), help="MediaPipe detections")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/refine.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_trained(args.model).float(), MeshVQVAE.load(args.tokenizer).eval()
    result: dict = {"model": str(args.model), "default": vars(RefineConfig()), "threads": 1}
    named = [("validation", validation_sets(args.renders, args.stride))] if args.renders else []
    if args.clips:
        named.append(("test", test_sets(args.clips, args.cache)))
    for name, sets in named:
        start = mega_start(model, tokenizer, sets["cond"])
        section: dict = {"examples": len(sets["cond"]), "mediapipe": baseline(sets)}
        section["mega"] = evaluate(tokenizer, start, sets, None)
        configs = [RefineConfig(*row) for row in GRID] if name == "validation" else [RefineConfig()]
        section["refined"] = [{**vars(c), **evaluate(tokenizer, start, sets, c)} for c in configs]
        starts = (start, mega_start(model, tokenizer, mirrored_sets(sets)["cond"]))
        section["mirror"] = {
            "mega": evaluate_mirrored(tokenizer, starts, sets, None),
            "refined_default": evaluate_mirrored(tokenizer, starts, sets, RefineConfig()),
        }
        result[name] = section
        print(json.dumps({name: section}, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
