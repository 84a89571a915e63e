"""End-to-end accuracy, smoothness and speed of ``mocap run`` on clips with exact ground truth.

For every clip ``NAME.mp4`` beside ``NAME.gt.zarr`` (``samples/`` by default, made by ``mocap synth``
from held-out mocap subjects), run the full pipeline (detector, tracker, MEGA, smoothing) in a
child process (so its peak memory is its own) and compare with the ground truth:

- people are matched to ground-truth persons per frame by 2D landmark distance (Hungarian);
- MPJPE / PA-MPJPE on 12 body landmarks (shoulders, elbows, wrists, hips, knees, ankles; the same
  landmark regressor on both meshes), hip-centre aligned, in mm; PVE on all 13,718 vertices after
  centring both meshes on their vertex mean;
- MediaPipe's own 3-D world landmarks on the same person-frames, scored the same way (``mediapipe_world_*``): the
  baseline issue 5 measures against;
- acceleration error (mm/frame^2) of those landmarks, root-aligned, before (raw) and after smoothing;
- root error: distance (mm) between the smoothed and the true hip centre in the camera frame (the run assumes its
  own intrinsics, ``mocap.mesh.crop.default_intrinsics`` unless told, so depth carries the focal mismatch too), and
  the acceleration error of that hip centre (mm/frame^2, raw and smoothed): how much the placement jitters;
- overlay miss: mean pixel distance between those 12 joints of the (raw) mesh, projected with the run's camera
  (what ``mocap render`` draws), and the true 2D joints; MediaPipe's own 2D landmarks beside it;
- id switches: for each ground-truth person, the number of distinct track ids it was matched to, minus one;
- frames/s of the run, peak memory, store bytes per person-frame.

Usage: ``python benchmarks/bench_capture.py [CLIP ...] [--mode offline] [--refine 10] [--mirror-above U]
[--[no-]mirror-view] [--lift-share S] [--world-share S] [--stores DIR] [--out FILE.json]``
(default out: ``results/capture.json``, ``capture_live.json``,
``capture_refine.json``, ``capture_mirror1.json``, ``capture_nomirrorview.json`` ... by mode, refinement, mirror
averaging and mirrored view; default: the pipeline's defaults). With several clips the report ends with their means
weighted by matched person-frames (``mean_over_person_frames``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mocap.mega.evaluate import joint_errors_mm

if TYPE_CHECKING:  # torch and Anny load only when a mesh is built
    from mocap.body.anny_body import AnnyBody

ROOT = Path(__file__).resolve().parents[1]
BODY = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # BlazePose: shoulders .. ankles
HIPS = [23, 24]


def accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |second difference| error of the body landmarks, hip-centred: (T, 33, 3) metres -> mm/frame^2."""
    if len(pred) < 3:
        return float("nan")

    def body(x: np.ndarray) -> np.ndarray:
        return (x - x[:, HIPS].mean(axis=1, keepdims=True))[:, BODY]

    return float(np.linalg.norm(np.diff(body(pred), 2, axis=0) - np.diff(body(gt), 2, axis=0), axis=-1).mean() * 1000)


def root_accel_error_mm(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |second difference| error of the hip centre in the camera frame: (T, 33, 3) metres -> mm/frame^2."""
    if len(pred) < 3:
        return float("nan")
    return float(
        np.linalg.norm(
            np.diff(pred[:, HIPS].mean(1), 2, axis=0) - np.diff(gt[:, HIPS].mean(1), 2, axis=0), axis=-1
        ).mean()
        * 1000
    )


@functools.cache
def anny_body() -> AnnyBody:
    """One Anny body model for every ground-truth mesh of the process (building it takes seconds)."""
    from mocap.body.anny_body import AnnyBody

    return AnnyBody()


@functools.lru_cache(maxsize=4)  # a clip's people: ~40 MB each for 4 s
def gt_vertices_cam(gt_path: Path, person: int, rows: tuple[int, ...]) -> np.ndarray:
    """Ground-truth meshes (n, V, 3) in the camera frame for the given rows of a GT track. Cached: every smoother
    setting of ``bench_smooth.py`` scores against the same ground truth."""
    import torch

    from mocap.io.store import open_store

    gt_track = open_store(gt_path).track(person)
    frames = np.array(rows)
    pose = torch.from_numpy(np.asarray(gt_track["pose_rotmat"][frames], np.float32))
    phenotype = torch.from_numpy(np.asarray(gt_track["phenotype"][frames], np.float32))
    transl = torch.from_numpy(np.asarray(gt_track["transl_world_m"][frames], np.float32))
    out = []
    for start in range(0, len(frames), 32):
        sl = slice(start, start + 32)
        with torch.no_grad():
            out.append(anny_body().forward(pose[sl], phenotype[sl], transl[sl]).vertices_m.numpy())
    world = np.concatenate(out)
    rotation = np.asarray(gt_track["rotation_world_to_cam"][frames])
    translation = np.asarray(gt_track["translation_world_to_cam_m"][frames])
    return np.einsum("nij,nvj->nvi", rotation, world) + translation[:, None]


def evaluate(run_path: Path, gt_path: Path) -> dict:
    from scipy.optimize import linear_sum_assignment

    from mocap.io.store import open_store

    run, gt = open_store(run_path), open_store(gt_path)
    # Whole fields read once: a zarr read per row decompresses a chunk per row.
    fields: dict[tuple[str, int, str], np.ndarray] = {}

    def field(store: str, track: int, name: str) -> np.ndarray:
        if (store, track, name) not in fields:
            source = run if store == "run" else gt
            fields[store, track, name] = np.asarray(source.track(track)[name][:])
        return fields[store, track, name]

    # frame -> {track id: row} for both stores
    pred_rows = {
        t: dict(zip(run.track(t).frame_index.tolist(), range(len(run.track(t))), strict=True)) for t in run.track_ids
    }
    gt_rows = {
        p: dict(zip(gt.track(p).frame_index.tolist(), range(len(gt.track(p))), strict=True)) for p in gt.track_ids
    }
    pairs: dict[int, list[tuple[int, int, int]]] = {p: [] for p in gt.track_ids}  # gt person -> (frame, track, row)
    for frame in gt.frame_index.tolist():
        people = [p for p in gt.track_ids if frame in gt_rows[p]]
        tracks = [t for t in run.track_ids if frame in pred_rows[t]]
        if not people or not tracks:
            continue
        cost = np.zeros((len(people), len(tracks)))
        for i, p in enumerate(people):
            g = field("gt", p, "landmarks_px")[gt_rows[p][frame], BODY, :2]
            for j, t in enumerate(tracks):
                q = field("run", t, "landmarks_px")[pred_rows[t][frame], BODY, :2]
                cost[i, j] = np.nanmean(np.linalg.norm(g - q, axis=-1))
        for i, j in zip(*linear_sum_assignment(cost), strict=True):
            if cost[i, j] < 60:  # px: a real match, not the nearest stranger
                pairs[people[i]].append((frame, tracks[j], pred_rows[tracks[j]][frame]))
    from mocap.mesh.crop import default_intrinsics
    from mocap.render.composite import project_px

    intrinsics = run.attrs.get("intrinsics") or default_intrinsics(tuple(run.attrs["source"]["size_wh"]))
    mpjpe, pa, pve, accel_raw, accel_smooth, switches, matched = [], [], [], [], [], 0, 0
    mediapipe_mpjpe, mediapipe_pa = [], []
    miss_mesh_px, miss_mediapipe_px, root, root_accel_raw, root_accel_smooth = [], [], [], [], []
    for person, matches in pairs.items():
        if not matches:
            continue
        switches += len({t for _, t, _ in matches}) - 1
        matched += len(matches)
        gtrack = gt.track(person)
        rows_gt = np.array([gt_rows[person][f] for f, _, _ in matches])
        gt_joints = np.asarray(gtrack["landmarks_cam_m"][rows_gt], np.float64)
        names = (
            "joints_cam_m",
            "joints_smoothed_cam_m",
            "vertices_smoothed_cam_m",
            "landmarks_px",
            "landmarks_world_m",
        )
        pred: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for _, t, row in matches:
            for name in pred:
                pred[name].append(np.asarray(field("run", t, name)[row], np.float64))
        raw, smooth = np.stack(pred["joints_cam_m"]), np.stack(pred["joints_smoothed_cam_m"])
        errors = joint_errors_mm(smooth, gt_joints)  # hip-centred, 12 body joints
        mpjpe.extend(errors["mpjpe"] / 1000)
        pa.extend(errors["pa_mpjpe"] / 1000)
        baseline = joint_errors_mm(np.stack(pred["landmarks_world_m"]), gt_joints)  # camera-oriented, hip-centred
        mediapipe_mpjpe.extend(baseline["mpjpe"] / 1000)
        mediapipe_pa.extend(baseline["pa_mpjpe"] / 1000)
        gv = gt_vertices_cam(Path(gt_path), person, tuple(rows_gt.tolist()))
        pv = np.stack(pred["vertices_smoothed_cam_m"])
        pve.extend(np.linalg.norm((pv - pv.mean(1, keepdims=True)) - (gv - gv.mean(1, keepdims=True)), axis=-1).mean(1))
        gt_px = np.asarray(gtrack["landmarks_px"][rows_gt], np.float64)[:, BODY, :2]
        miss_mesh_px.extend(np.linalg.norm(project_px(raw[:, BODY], intrinsics) - gt_px, axis=-1).mean(1))
        miss_mediapipe_px.extend(np.linalg.norm(np.stack(pred["landmarks_px"])[:, BODY, :2] - gt_px, axis=-1).mean(1))
        root.extend(np.linalg.norm(smooth[:, HIPS].mean(1) - gt_joints[:, HIPS].mean(1), axis=-1))
        root_accel_raw.append(root_accel_error_mm(raw, gt_joints))
        root_accel_smooth.append(root_accel_error_mm(smooth, gt_joints))
        accel_raw.append(accel_error_mm(raw, gt_joints))
        accel_smooth.append(accel_error_mm(smooth, gt_joints))
    gt_person_frames = sum(len(gt.track(p)) for p in gt.track_ids)
    return {
        "mpjpe_mm": float(np.mean(mpjpe) * 1000) if mpjpe else None,
        "pa_mpjpe_mm": float(np.mean(pa) * 1000) if pa else None,
        "pve_mm": float(np.mean(pve) * 1000) if pve else None,
        "mediapipe_world_mpjpe_mm": float(np.mean(mediapipe_mpjpe) * 1000) if mediapipe_mpjpe else None,
        "mediapipe_world_pa_mpjpe_mm": float(np.mean(mediapipe_pa) * 1000) if mediapipe_pa else None,
        "root_error_mm": float(np.mean(root) * 1000) if root else None,
        "root_accel_error_raw_mm_per_frame2": float(np.nanmean(root_accel_raw)) if root_accel_raw else None,
        "root_accel_error_smoothed_mm_per_frame2": float(np.nanmean(root_accel_smooth)) if root_accel_smooth else None,
        "overlay_miss_px": float(np.mean(miss_mesh_px)) if miss_mesh_px else None,
        "mediapipe_2d_miss_px": float(np.mean(miss_mediapipe_px)) if miss_mediapipe_px else None,
        "accel_error_raw_mm_per_frame2": float(np.nanmean(accel_raw)) if accel_raw else None,
        "accel_error_smoothed_mm_per_frame2": float(np.nanmean(accel_smooth)) if accel_smooth else None,
        "id_switches": switches,
        "person_frames_matched": matched,
        "person_frames_ground_truth": gt_person_frames,
    }


def weighted_means(clips: dict[str, dict]) -> dict[str, float]:
    """The clips' error figures averaged over their matched person-frames (longer clips weigh more)."""
    names = ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "root_error_mm", "overlay_miss_px", "mediapipe_2d_miss_px")
    names += ("mediapipe_world_mpjpe_mm", "mediapipe_world_pa_mpjpe_mm")
    names += ("accel_error_smoothed_mm_per_frame2", "root_accel_error_smoothed_mm_per_frame2")
    weights = np.array([c["person_frames_matched"] for c in clips.values()], float)
    means = {}
    for name in names:
        values = np.array([np.nan if c.get(name) is None else c[name] for c in clips.values()], float)
        seen = np.isfinite(values)
        means[name] = round(float(np.average(values[seen], weights=weights[seen])), 2) if seen.any() else None
    return {**means, "clips": len(clips), "person_frames_matched": int(weights.sum())}


def run_clip(
    clip: Path,
    mode: str,
    out_dir: Path,
    refine: int = 0,
    mirror_above: float | None = None,
    mirror_view: bool | None = None,
    shares: tuple[float | None, float | None] = (None, None),
) -> dict:
    store = out_dir / f"{clip.stem}.{mode}.zarr"
    command = [sys.executable, "-m", "mocap.cli", "run", str(clip), "-o", str(store), "--no-progress", "--mode", mode]
    command += ["--refine", str(refine)] + ([] if mirror_above is None else ["--mirror-above", str(mirror_above)])
    command += [] if mirror_view is None else ["--mirror-view" if mirror_view else "--no-mirror-view"]
    for flag, share in zip(("--lift-share", "--world-share"), shares, strict=True):
        command += [] if share is None else [flag, str(share)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mocap run failed on {clip}")
    from mocap.io.store import disk_bytes, open_store

    result = open_store(store)
    person_frames = sum(len(result.track(t)) for t in result.track_ids)
    return {
        "store": store,
        "frames": result.num_frames,
        "seconds_including_startup": seconds,
        "frames_per_s_including_startup": result.num_frames / seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "store_bytes_per_person_frame": disk_bytes(store) / max(person_frames, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, default=sorted((ROOT / "samples").glob("*.mp4")))
    parser.add_argument("--mode", default="offline", choices=("live", "offline", "quality"))
    parser.add_argument("--refine", type=int, default=0, help="mocap run --refine STEPS")
    parser.add_argument("--mirror-above", type=float, help="mocap run --mirror-above U (1 = no mirror averaging)")
    parser.add_argument(
        "--mirror-view", action=argparse.BooleanOptionalAction, help="mocap run --[no-]mirror-view (default: its own)"
    )
    parser.add_argument("--lift-share", type=float, help="mocap run --lift-share S (default: its own)")
    parser.add_argument("--world-share", type=float, help="mocap run --world-share S (default: its own)")
    parser.add_argument(
        "--stores", type=Path, help="keep each run's store in this folder (default: a temporary one, removed)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default: results/capture[_live|_quality][_refine][_mirrorU][_[no]mirrorview][_liftS][_worldS].json",
    )
    args = parser.parse_args()
    if args.out is None:  # one file per configuration, so that a live run never overwrites the offline figures
        name = "capture" + ("" if args.mode == "offline" else f"_{args.mode}") + ("_refine" if args.refine else "")
        name += "" if args.mirror_above is None else f"_mirror{args.mirror_above:g}"
        name += "" if args.mirror_view is None else ("_mirrorview" if args.mirror_view else "_nomirrorview")
        name += "" if args.lift_share is None else f"_lift{args.lift_share:g}"
        name += "" if args.world_share is None else f"_world{args.world_share:g}"
        args.out = ROOT / "benchmarks" / "results" / f"{name}.json"
    report: dict = {
        "benchmark": __doc__.splitlines()[0],
        "mode": args.mode,
        "refine": args.refine,
        "mirror_above": args.mirror_above,
        "mirror_view": args.mirror_view,
        "lift_share": args.lift_share,
        "world_share": args.world_share,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "clips": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        stores = args.stores or Path(tmp)
        stores.mkdir(parents=True, exist_ok=True)
        for clip in args.clips:
            shares = (args.lift_share, args.world_share)
            speed = run_clip(clip, args.mode, stores, args.refine, args.mirror_above, args.mirror_view, shares)
            accuracy = evaluate(speed.pop("store"), clip.with_suffix(".gt.zarr"))
            report["clips"][clip.name] = {**accuracy, **speed}
            print(clip.name, json.dumps(report["clips"][clip.name]), flush=True)
    if len(report["clips"]) > 1:
        report["mean_over_person_frames"] = weighted_means(report["clips"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
