"""Speed of the synthetic renderer and of ``mocap synth``, and MediaPipe's landmark residuals on rendered clips.

Three measurements, written as JSON to ``benchmarks/results/synth.json``:

- ``render``: frames/s of :class:`mocap.synth.render.Renderer` alone (colour pass + one depth pass per
  person) for 1 and 2 Anny bodies at 640x480;
- ``synth``: frames/s of a whole held-out clip (posing, rendering, ground truth, H.264, zarr);
- ``landmarks``: MediaPipe (the pipeline's :class:`PoseDetector`) on rendered clips against the
  ground-truth landmarks (regressed from the mesh by :mod:`mocap.body.landmarks`): per landmark, the
  median and 90th-percentile pixel distance over ground-truth-visible landmarks of detected people,
  the mean signed offset (MediaPipe minus truth) in % of the person's box height (x right, y down),
  and the share of person-frames (>= 50 % of the silhouette unoccluded) that MediaPipe detects.

Usage: ``python benchmarks/bench_synth.py [CLIP.mp4 ...] [--out benchmarks/results/synth.json]``
(default clips: ``samples/*.mp4``). Needs the motion dataset (``mocap data build``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def bench_render(frames: int = 40) -> dict:
    import torch

    from mocap.body.anny_body import AnnyBody, neutral_phenotypes
    from mocap.synth.camera import intrinsics_from_fov, look_at
    from mocap.synth.render import Renderer

    body = AnnyBody()
    with torch.no_grad():
        one = body.forward(body.identity_pose(1), neutral_phenotypes(1), torch.tensor([[0.0, 0.0, 0.9]]))
    vertices = one.vertices_m.numpy().astype(np.float64)
    people = np.concatenate([vertices, vertices + np.array([0.8, 1.0, 0.0])])  # (2, V, 3)
    colors = np.full_like(people, 0.6)
    K = intrinsics_from_fov(50.0, (640, 480))
    R, t = look_at(np.array([[0.3, -4.5, 1.4]]), np.array([[0.3, 0.5, 0.9]]))
    results = {}
    with Renderer((640, 480), body.faces) as renderer:
        for count in (1, 2):
            renderer.render(people[:count], colors[:count], K, R[0], t[0])  # warm-up
            start = time.perf_counter()
            for _ in range(frames):
                renderer.render(people[:count], colors[:count], K, R[0], t[0])
            seconds = time.perf_counter() - start
            results[f"{count}_people"] = {"frames": frames, "seconds": seconds, "fps": frames / seconds}
    return results


def bench_synth(directory: Path) -> dict:
    from mocap.synth.clip import SynthConfig, Synthesizer
    from mocap.synth.motions import held_out_performances

    config = SynthConfig(people=2, seconds=2.0, seed=11)
    performances = held_out_performances(config)
    report = Synthesizer(config).synthesize(performances, directory / "bench.mp4", directory / "bench.gt.zarr")
    return {
        "config": {"people": config.people, "frames": config.num_frames, "size_wh": list(config.size_wh)},
        "motions": [p.name for p in performances],
        "seconds_total": report.seconds_total,
        "seconds_rendering": report.seconds_rendering,
        "fps": report.num_frames / report.seconds_total,
    }


def _match(detected_px: np.ndarray, truth_px: np.ndarray, truth_visible: np.ndarray) -> list[tuple[int, int]]:
    """Greedy (detection, person) pairs by mean distance over visible truth landmarks, closest first."""
    from scipy.optimize import linear_sum_assignment

    cost = np.full((len(detected_px), len(truth_px)), 1e9)
    for d in range(len(detected_px)):
        for p in range(len(truth_px)):
            if truth_visible[p].any():
                diff = detected_px[d, truth_visible[p], :2] - truth_px[p, truth_visible[p]]
                cost[d, p] = np.linalg.norm(diff, axis=-1).mean()
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e9]


def bench_landmarks(clips: list[Path]) -> dict:
    from mocap.body.landmarks import LANDMARK_NAMES
    from mocap.detect.pose import DetectConfig, PoseDetector
    from mocap.io.sources import open_source
    from mocap.io.store import open_store

    residuals: list[list[float]] = [[] for _ in LANDMARK_NAMES]
    offsets: list[list[np.ndarray]] = [[] for _ in LANDMARK_NAMES]  # (dx, dy) / box height
    seen = detected = 0
    per_clip = {}
    for clip in clips:
        store = open_store(clip.with_suffix(".gt.zarr"))
        tracks = {tid: store.track(tid) for tid in store.track_ids}
        clip_seen = clip_detected = 0
        with open_source(clip) as source, PoseDetector(DetectConfig(max_people=len(tracks))) as detector:
            for frame in source:
                detections = detector.detect(frame)
                truth_px = np.stack([tr["landmarks_px"][frame.index, :, :2] for tr in tracks.values()])
                visible = np.stack([tr["landmarks_visible"][frame.index] for tr in tracks.values()])
                heights = np.array(
                    [tr["xyxy_px"][frame.index, 3] - tr["xyxy_px"][frame.index, 1] for tr in tracks.values()]
                )
                unoccluded = np.array([tr["visible_pixel_fraction"][frame.index] >= 0.5 for tr in tracks.values()])
                pairs = _match(detections.landmarks_px, truth_px, visible)
                matched = {p for _, p in pairs}
                clip_seen += int(unoccluded.sum())
                clip_detected += sum(1 for p in matched if unoccluded[p])
                for d, p in pairs:
                    offset = detections.landmarks_px[d, :, :2] - truth_px[p]  # (33, 2) px
                    distance = np.linalg.norm(offset, axis=-1)
                    for k in np.flatnonzero(visible[p]):
                        residuals[k].append(float(distance[k]))
                        offsets[k].append(offset[k] / max(heights[p], 1.0))
        seen, detected = seen + clip_seen, detected + clip_detected
        per_clip[clip.name] = {"person_frames": clip_seen, "detected": clip_detected}
    per_landmark = {
        name: {
            "count": len(values),
            "median_px": float(np.median(values)) if values else None,
            "p90_px": float(np.percentile(values, 90)) if values else None,
            "mean_offset_pct_of_height": [round(float(v) * 100, 2) for v in np.mean(shifts, axis=0)]
            if shifts
            else None,
        }
        for name, values, shifts in zip(LANDMARK_NAMES, residuals, offsets, strict=True)
    }
    everything = [v for values in residuals for v in values]
    return {
        "clips": per_clip,
        "detection_rate": detected / max(seen, 1),
        "median_px_all": float(np.median(everything)) if everything else None,
        "per_landmark": per_landmark,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, help="rendered clips with CLIP.gt.zarr beside them")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "synth.json")
    args = parser.parse_args()
    clips = args.clips or sorted((ROOT / "samples").glob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
            "render": bench_render(),
            "synth": bench_synth(Path(tmp)),
            "landmarks": bench_landmarks(clips),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "landmarks"}, indent=2))
    marks = results["landmarks"]
    print(f"detection rate {marks['detection_rate']:.3f}, median residual {marks['median_px_all']:.1f} px")
    for name, row in marks["per_landmark"].items():
        print(
            f"  {name:18s} n={row['count']:4d} median={row['median_px']:.1f} px p90={row['p90_px']:.1f} px "
            f"mean offset (x, y) {row['mean_offset_pct_of_height']} % of height"
        )


if __name__ == "__main__":
    main()
