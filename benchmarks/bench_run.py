"""Speed and memory of ``mocap run`` against MediaPipe alone on the same frames.

Each measurement runs in its own child process so its peak memory (max RSS) is
its own. Three workers see the same clip:

- ``mediapipe``: decode every frame first, then time the MediaPipe pose landmarker
  alone (VIDEO mode, the same model and options as the pipeline): the floor.
- ``pipeline_frames``: the same decoded frames through ``Pipeline.process`` and the
  store writer: detector + tracker + store, i.e. what the pipeline adds.
- ``run``: ``capture()`` from the video file to a zarr store, decoding included:
  what a user of ``mocap run`` gets.

Usage: ``python benchmarks/bench_run.py [CLIP] [--out benchmarks/results/run.json]``.
The ratio ``pipeline_frames / mediapipe`` is the target (at most 1.15).
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

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "samples" / "two_people_crossing.mp4"


def _decode(clip: Path) -> list:
    from mocap.io.sources import open_source

    with open_source(clip) as source:
        return list(source)


def worker_mediapipe(clip: Path) -> dict:
    from mocap.detect.pose import DetectConfig, PoseDetector

    frames = _decode(clip)
    with PoseDetector(DetectConfig()) as detector:
        detector.detect(frames[0])  # graph start-up is not per-frame cost
        start = time.perf_counter()
        people = sum(len(detector.detect(frame)) for frame in frames[1:])
        seconds = time.perf_counter() - start
    return {"frames": len(frames) - 1, "seconds": seconds, "detections": people}


def worker_pipeline_frames(clip: Path) -> dict:
    from mocap.io.store import StoreWriter
    from mocap.pipeline import Pipeline, RunConfig

    frames = _decode(clip)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = Pipeline(RunConfig())
        writer = StoreWriter(Path(tmp) / "bench.zarr", mode="create")
        writer.write(pipeline.process(frames[0]))
        start = time.perf_counter()
        people = 0
        for frame in frames[1:]:
            result = pipeline.process(frame)
            writer.write(result)
            people += len(result.tracks)
        writer.close()
        seconds = time.perf_counter() - start
        pipeline.close()
    return {"frames": len(frames) - 1, "seconds": seconds, "person_frames": people}


def worker_run(clip: Path) -> dict:
    from mocap.io.sources import open_source
    from mocap.io.store import StoreWriter, open_store
    from mocap.pipeline import Pipeline, RunConfig, StoreSink, capture

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.zarr"
        start = time.perf_counter()
        with open_source(clip) as source:
            stats = capture(source, Pipeline(RunConfig()), [StoreSink(StoreWriter(path, mode="create"))])
        seconds = time.perf_counter() - start
        store_bytes = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        store = open_store(path)
        person_frames = sum(len(store.track(i).frame_index) for i in store.track_ids)
    return {
        "frames": stats.frames,
        "seconds": seconds,
        "person_frames": person_frames,
        "tracks": len(stats.track_ids),
        "store_bytes": store_bytes,
        "store_bytes_per_person_frame": store_bytes / max(person_frames, 1),
    }


WORKERS = {"mediapipe": worker_mediapipe, "pipeline_frames": worker_pipeline_frames, "run": worker_run}


def _measure(name: str, clip: Path) -> dict:
    """Run one worker in a child process; return its result plus its own peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        process = subprocess.Popen([sys.executable, __file__, str(clip), "--worker", name, "--out", out.name])
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"worker {name} failed")
        result = json.loads(Path(out.name).read_text())
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["frames_per_s"] = result["frames"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "run.json")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.out.write_text(json.dumps(WORKERS[args.worker](args.clip)))
        return
    results = {name: _measure(name, args.clip) for name in WORKERS}
    floor = results["mediapipe"]["seconds"] / results["mediapipe"]["frames"]
    report = {
        "benchmark": "mocap run vs MediaPipe alone, same frames, one process each",
        "clip": str(args.clip.relative_to(ROOT) if args.clip.is_relative_to(ROOT) else args.clip),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "ratio_pipeline_to_mediapipe": results["pipeline_frames"]["seconds"]
        / results["pipeline_frames"]["frames"]
        / floor,
        "ratio_run_to_mediapipe": results["run"]["seconds"] / results["run"]["frames"] / floor,
        "target_ratio_pipeline_to_mediapipe": 1.15,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
