"""Frames per second of ``mocap render`` (meshes shaded over the source video), offscreen on this CPU.

For 1, 2 and 4 walking Anny people (13,718 vertices each) over a 640x480 and a 1280x720 clip:

- ``decode_ms``: decoding one frame of the source (PyAV, H.264).
- ``draw_ms``: :meth:`MeshOverlay.draw` on a decoded frame: store row, Open3D render (EGL,
  Mesa llvmpipe), read-back, key mask, blend, id tags.
- ``encode_ms``: encoding one overlay frame (x264, crf 23).
- ``fps``: :func:`render_overlay` end to end (decode, draw, encode, the file flushed), the number
  ``mocap render`` prints.

Usage: ``python benchmarks/bench_render.py [--frames 40] [--out benchmarks/results/render.json]``.
The load average is recorded with the numbers: other processes on the 2 cores slow llvmpipe down.
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
SIZES_WH = ((640, 480), (1280, 720))


def anny_camera_vertices() -> tuple[np.ndarray, np.ndarray]:
    """Anny's rest mesh standing in the camera frame (y down), feet 1.5 m below the camera: (V, 3), faces (F, 3)."""
    from mocap.body.anny_body import AnnyBody

    body = AnnyBody()
    v = body.model.template_vertices.detach().cpu().numpy().astype(np.float64)  # (V, 3), z up
    cam = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)  # a rotation (det +1): the winding stays outward
    cam[:, 1] += 1.5 - cam[:, 1].max()
    return cam.astype(np.float32), body.faces


def write_clip(path: Path, frames: int, size_wh: tuple[int, int]) -> None:
    from mocap.io.video_writer import VideoWriter

    w, h = size_wh
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    with VideoWriter(path, 30.0, size_wh) as writer:
        for i in range(frames):
            grey = 110 + 40 * np.sin(x / 37 + i / 5) * np.cos(y / 29)  # (H, W): a moving texture
            writer.write(np.clip(np.stack([grey, grey + 15, grey - 15], axis=-1), 0, 255).astype(np.uint8))


def measure(store: Path, clip: Path, output: Path, size_wh: tuple[int, int]) -> dict:
    from mocap.io.sources import open_source
    from mocap.io.video_writer import VideoWriter
    from mocap.render.overlay import MeshOverlay, OverlayConfig, render_overlay

    decode_s, draw_s, encode_s, images = [], [], [], []
    with open_source(clip) as source:
        t0 = time.perf_counter()
        decoded = []
        for frame in source:
            decoded.append(frame)
            decode_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
    with MeshOverlay(store, size_wh, OverlayConfig()) as overlay:
        overlay.draw(decoded[0])  # opening the renderer and the first upload are not per-frame cost
        for frame in decoded[1:]:
            t0 = time.perf_counter()
            images.append(overlay.draw(frame))
            draw_s.append(time.perf_counter() - t0)
    with VideoWriter(output, 30.0, size_wh) as writer:
        for image in images:
            t0 = time.perf_counter()
            writer.write(image)
            encode_s.append(time.perf_counter() - t0)
    stats = render_overlay(store, clip, output, OverlayConfig())
    decode_ms, draw_ms, encode_ms = (1000 * float(np.median(s)) for s in (decode_s[1:], draw_s, encode_s))
    return {
        "size_wh": list(size_wh),
        "frames": stats.frames,
        "decode_ms": round(decode_ms, 2),
        "draw_ms": round(draw_ms, 2),
        "encode_ms": round(encode_ms, 2),
        "fps": round(stats.fps, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "render.json")
    args = parser.parse_args()
    mesh, faces = anny_camera_vertices()
    results: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "renderer": "Open3D legacy, EGL llvmpipe"},
        "vertices_per_person": int(len(mesh)),
        "median_of_frames": args.frames - 1,
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size_wh in SIZES_WH:
            clip = Path(tmp) / f"clip_{size_wh[0]}.mp4"
            write_clip(clip, args.frames, size_wh)
            for people in (1, 2, 4):
                store = Path(tmp) / f"people{people}_{size_wh[0]}.zarr"
                write_store(store, people, args.frames, size_wh, mesh, faces)
                run = {"people": people, **measure(store, clip, Path(tmp) / "overlay.mp4", size_wh)}
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
    results["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
