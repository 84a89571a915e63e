"""Misread turns on real footage, where no ground truth exists: ``mocap run`` with and without its two guards.

A body's torso cannot turn round between two frames, and its shoulders do not narrow to a third of their width while
the raw meshes keep theirs. So, per clip, in one session:

- ``turned_raw``: person-frames whose raw mesh turned more than 120 degrees from the track's previous frame (the
  detector's left-right swaps and MEGA's misread profiles; the side keeper removes most swaps before MEGA);
- ``ghost_frames``: person-frames whose smoothed mesh is under half as wide across the shoulders as the median of
  its track's raw meshes (a body averaged with its half-turned twin), offline and live;
- ``narrowest_ratio``: the smallest such width ratio over the clip (1: as wide as the raw meshes);
- frames/s of the offline run.

Settings: ``guarded`` (the defaults: ``--keep-sides``, ``--turn-window 7``) and ``unguarded`` (``--no-keep-sides
--turn-window 0``, i.e. before session 16). Clips: the videos in ``../shared/data/videos`` (Sports2D demo, OpenCV's
vtest), skipped when absent. Usage: ``python benchmarks/bench_real.py [CLIP ...] [--out results/real.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
SETTINGS = {"guarded": [], "unguarded": ["--no-keep-sides", "--turn-window", "0"]}


def shoulder_width_m(joints_m: np.ndarray) -> np.ndarray:
    """(n, 33, 3) joints -> (n,) distance between the shoulders, metres."""
    return np.linalg.norm(joints_m[:, 11] - joints_m[:, 12], axis=-1)


def score(store_path: Path) -> dict:
    """Turned raw frames, ghost frames and the narrowest width ratio of a finished store."""
    from mocap.io.store import open_store
    from mocap.smooth.outliers import TURN_BREAK_DEG, torso_normals

    store = open_store(store_path)
    turned = ghosts = frames = 0
    narrowest = 1.0
    for track_id in store.track_ids:
        track = store.track(track_id)
        if len(track) < 2 or "joints_cam_m" not in track.fields:
            continue
        raw, smoothed = np.asarray(track["joints_cam_m"]), np.asarray(track["joints_smoothed_cam_m"])
        normals = torso_normals(raw)
        consecutive = np.diff(track.frame_index) == 1
        dots = np.einsum("nc,nc->n", normals[1:], normals[:-1])
        turned += int((consecutive & (dots < np.cos(np.radians(TURN_BREAK_DEG)))).sum())
        ratio = shoulder_width_m(smoothed) / np.median(shoulder_width_m(raw))
        ghosts += int((ratio < 0.5).sum())
        narrowest = min(narrowest, float(ratio.min()))
        frames += len(track)
    return {"person_frames": frames, "turned_raw": turned, "ghost_frames": ghosts, "narrowest_ratio": narrowest}


def run(clip: Path, store: Path, mode: str, options: list[str]) -> float:
    """``mocap run`` in a child process; returns its frames per second."""
    command = [sys.executable, "-m", "mocap.cli", "run", str(clip), "-o", str(store), "--no-progress"]
    start = time.perf_counter()
    subprocess.run([*command, "--mode", mode, *options], check=True, stderr=subprocess.DEVNULL)
    from mocap.io.store import open_store

    return open_store(store).num_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, default=sorted(VIDEOS.glob("*")) if VIDEOS.exists() else [])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "real.json")
    args = parser.parse_args()
    clips = [c for c in args.clips if c.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm")]
    if not clips:
        sys.exit(f"no video to run: pass clips, or put ../shared/data/videos beside the repository ({VIDEOS})")
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report: dict = {"benchmark": __doc__.splitlines()[0], "date_utc": date, "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            result: dict = {}
            for name, options in SETTINGS.items():
                offline, live = (Path(tmp) / f"{clip.stem}.{name}.{mode}.zarr" for mode in ("offline", "live"))
                fps = run(clip, offline, "offline", options)
                run(clip, live, "live", options)
                result[name] = {"offline": score(offline), "live": score(live), "offline_frames_per_s": fps}
            report["clips"][clip.name] = result
            print(clip.name, json.dumps(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
