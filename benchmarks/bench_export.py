"""Accuracy and speed of the fast Anny track fit, and validity of the BVH export.

Written as JSON to ``benchmarks/results/export.json``:

- ``heldout``: tracks of consecutive frames from held-out (test split) clips on random bodies,
  3 m in front of the camera: mean vertex and joint error (mm), phenotype error and ms per frame,
  with the phenotype known (pose only), fitted, and fitted on meshes with 5 mm Gaussian noise;
- ``synth``: the same on a ``mocap synth`` ground-truth store (its float16 meshes as input, its
  ``joints_cam_m`` as truth);
- ``bvh``: for every rig, the max distance (mm) between our joint positions and those re-read
  from the written BVH by ``bvhio`` (independent) and by our ``read_bvh``.

Usage: ``python benchmarks/bench_export.py [--synth-store clip.gt.zarr] [--out ...]`` (without a
store, one is made with ``mocap synth``). Needs the motion dataset (``mocap data build``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mocap.body.anny_body import RIGS, AnnyBody, random_phenotypes
from mocap.body.base import BodyParams
from mocap.body.fit import FitConfig, TrackFitter

ROOT = Path(__file__).resolve().parents[1]
CAMERA_FROM_ANNY = torch.tensor([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])


def errors(body: AnnyBody, fit: BodyParams, vertices: torch.Tensor, joints: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        out = body.forward(fit.pose_rotmat, fit.phenotype.expand(len(fit), -1), fit.transl_m)
    return {
        "vertex_mm": float((out.vertices_m - vertices).norm(dim=-1).mean() * 1000),
        "joint_mm": float((out.joints_m - joints).norm(dim=-1).mean() * 1000),
    }


def timed_fit(body: AnnyBody, vertices: torch.Tensor, init: BodyParams | None) -> tuple[BodyParams, float]:
    start = time.perf_counter()
    fit = TrackFitter(body, FitConfig()).fit(vertices, init=init)
    return fit, (time.perf_counter() - start) * 1000 / len(vertices)


def bench_heldout(body: AnnyBody, tracks: int, frames: int, seed: int = 0) -> dict:
    from mocap.motion.dataset import MotionDataset

    rng = np.random.default_rng(seed)
    clips = [s for s in MotionDataset.load().split("test") if len(s) >= frames]
    rows: dict[str, list[dict[str, float]]] = {"known_phenotype": [], "fitted_phenotype": [], "noise_5mm": []}
    for _ in range(tracks):
        clip = clips[rng.integers(len(clips))]
        start = int(rng.integers(0, len(clip) - frames + 1))
        pose = torch.from_numpy(clip.pose_rotmat(body)[start : start + frames])
        pose[:, 0] = CAMERA_FROM_ANNY @ pose[:, 0]
        transl = torch.from_numpy(clip.transl_m[start : start + frames]) @ CAMERA_FROM_ANNY.T + torch.tensor(
            [0, 0, 3.0]
        )
        phenotype = torch.from_numpy(random_phenotypes(1, rng))
        with torch.no_grad():
            out = body.forward(pose, phenotype.expand(frames, -1), transl)
        noisy = out.vertices_m + 0.005 * torch.randn(out.vertices_m.shape, generator=torch.Generator().manual_seed(1))
        for name, target, init in (
            ("known_phenotype", out.vertices_m, BodyParams(pose[:1], transl[:1], phenotype)),
            ("fitted_phenotype", out.vertices_m, None),
            ("noise_5mm", noisy, None),
        ):
            fit, ms = timed_fit(body, target, init)
            row = errors(body, fit, out.vertices_m, out.joints_m)
            row["ms_per_frame"] = ms
            row["phenotype_abs_error"] = float((fit.phenotype - phenotype).abs().mean())
            rows[name].append(row)
    return {
        "tracks": tracks,
        "frames_per_track": frames,
        **{name: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]} for name, rs in rows.items()},
    }


def bench_synth(body: AnnyBody, store_path: Path) -> dict:
    from mocap.io.store import open_store

    store = open_store(store_path)
    result: dict = {"store": str(store_path), "tracks": {}}
    for track_id in store.track_ids:
        track = store.track(track_id)
        vertices = torch.from_numpy(np.asarray(track["vertices_cam_m"], np.float32))
        joints = torch.from_numpy(np.asarray(track["joints_cam_m"], np.float32))
        truth = torch.from_numpy(np.asarray(track["phenotype"][:1], np.float32))
        known, known_ms = timed_fit(body, vertices, BodyParams(torch.empty(0), torch.empty(0), truth))
        fit, ms = timed_fit(body, vertices, None)
        row = errors(body, fit, vertices, joints)
        row["ms_per_frame"] = ms
        row["frames"] = len(vertices)
        row["phenotype_abs_error"] = float((fit.phenotype - truth).abs().mean())
        row["known_phenotype"] = {**errors(body, known, vertices, joints), "ms_per_frame": known_ms}
        result["tracks"][str(track_id)] = row
        result["_fit"] = fit  # the last track's fit, for the BVH check
    return result


def bench_bvh(fit: BodyParams, folder: Path) -> dict:
    import bvhio

    from mocap.export.motion import export_motion
    from mocap.export.writers import BVH_UNIT_M, write_bvh_file
    from mocap.motion.bvh import read_bvh

    result = {}
    for rig in RIGS:
        motion = export_motion(fit, AnnyBody(rig))
        path = folder / f"{rig}.bvh"
        write_bvh_file(motion, path, fps=30.0)
        ours = motion.joints_world_m()
        root = bvhio.readAsHierarchy(str(path))
        layout = root.layout()
        theirs = np.zeros_like(ours)
        for f in range(len(ours)):
            root.loadPose(f)
            for j, (joint, _, _) in enumerate(layout):
                theirs[f, j] = np.asarray(joint.PositionWorld) * BVH_UNIT_M
        back = read_bvh(path, unit_m=BVH_UNIT_M).joint_positions_m()
        result[rig] = {
            "joints": len(motion.names),
            "frames": len(ours),
            "bvhio_max_mm": float(np.abs(theirs - ours).max() * 1000),
            "read_bvh_max_mm": float(np.abs(back - ours).max() * 1000),
            "bytes": path.stat().st_size,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-store", type=Path, help="a `mocap synth` ground-truth store (made when left out)")
    parser.add_argument("--tracks", type=int, default=3)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "export.json")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    body = AnnyBody()
    with tempfile.TemporaryDirectory() as tmp:
        store = args.synth_store
        if store is None:
            clip = Path(tmp) / "clip.mp4"
            subprocess.run([sys.executable, "-m", "mocap", "synth", "-o", str(clip), "--people", "2", "--seconds", "3",
                            "--size", "320x240", "--seed", "3", "--no-progress"], check=True)  # fmt: skip
            store = Path(tmp) / "clip.gt.zarr"
        synth = bench_synth(body, store)
        bvh = bench_bvh(synth.pop("_fit"), Path(tmp))
    result = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "fit_config": FitConfig().__dict__,
        "heldout": bench_heldout(body, args.tracks, args.frames),
        "synth": synth,
        "bvh": bvh,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
