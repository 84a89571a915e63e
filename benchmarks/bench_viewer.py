"""Frames per second of the 3D viewer, offscreen (EGL, Mesa llvmpipe), for 1 and 4 Anny people.

Per people count and render size (a 640x480 capture rendered at 640x480, and at 960x720, the
default window size), with every vertex moving each frame (whole meshes re-uploaded, as in a replay):

- ``show_ms``: :meth:`Viewer.show` (update meshes in place, normals, render): what a window costs.
- ``capture_ms``: reading the frame back (:meth:`Viewer.capture_rgb`): what ``--save`` adds.
- ``state_ms``: building the frame's :class:`FrameState` from a store (:meth:`StoreFrames.state`).
- ``fps_window`` = 1000 / (state + show), ``fps_save`` = 1000 / (state + show + capture).

Usage: ``python benchmarks/bench_viewer.py [--frames 40] [--out benchmarks/results/viewer.json]``.
The machine's load average is recorded with the numbers: llvmpipe renders on the CPU, so other
processes on the same cores slow it down.
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
from bench_store import write_store

ROOT = Path(__file__).resolve().parents[1]
SIZE_WH = (640, 480)


def anny_camera_vertices() -> tuple[np.ndarray, np.ndarray]:
    """Anny's rest mesh standing in the camera frame (y down), feet 1.5 m below the camera: (V, 3), faces (F, 3)."""
    from mocap.body.anny_body import AnnyBody

    body = AnnyBody()
    v = body.model.template_vertices.detach().cpu().numpy().astype(np.float64)  # (V, 3), z up
    cam = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)  # a rotation (det +1): the winding stays outward
    cam[:, 1] += 1.5 - cam[:, 1].max()
    return cam.astype(np.float32), body.faces


def measure(store: Path, size_px: int, faces: np.ndarray) -> dict:
    from mocap.view.config import ViewerConfig
    from mocap.view.store_frames import StoreFrames
    from mocap.view.viewer import StaticScene, Viewer

    frames = StoreFrames(store)
    viewer = Viewer(
        StaticScene(faces, frames.intrinsics, frames.size_wh), ViewerConfig(max_size_px=size_px, visible=False)
    )
    plane, centre = frames.ground()
    viewer.set_ground(plane, centre)
    viewer.show(frames.state(0))  # first upload and shader set-up are not per-frame cost
    viewer.capture_rgb()
    state_s, show_s, capture_s = [], [], []
    for i in range(1, frames.num_frames):
        t0 = time.perf_counter()
        state = frames.state(i)
        t1 = time.perf_counter()
        viewer.show(state)
        t2 = time.perf_counter()
        viewer.capture_rgb()
        t3 = time.perf_counter()
        state_s.append(t1 - t0)
        show_s.append(t2 - t1)
        capture_s.append(t3 - t2)
    viewer.close()
    state_ms, show_ms, capture_ms = (1000 * float(np.median(x)) for x in (state_s, show_s, capture_s))
    return {
        "frames": frames.num_frames - 1,
        "render_size_wh": list(viewer.size_wh),
        "state_ms": round(state_ms, 2),
        "show_ms": round(show_ms, 2),
        "capture_ms": round(capture_ms, 2),
        "fps_window": round(1000 / (state_ms + show_ms), 1),
        "fps_save": round(1000 / (state_ms + show_ms + capture_ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "viewer.json")
    args = parser.parse_args()
    mesh, faces = anny_camera_vertices()
    results: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "renderer": "Open3D legacy, EGL llvmpipe"},
        "capture_size_wh": list(SIZE_WH),
        "vertices_per_person": int(len(mesh)),
        "median_of_frames": args.frames - 1,
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for people in (1, 4):
            store = Path(tmp) / f"people{people}.zarr"
            write_store(store, people, args.frames, SIZE_WH, mesh, faces)
            for size_px in (640, 960):
                results["runs"].append({"people": people, **measure(store, size_px, faces)})
    results["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for run in results["runs"]:
        print(json.dumps(run))


if __name__ == "__main__":
    main()
