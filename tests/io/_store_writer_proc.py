"""A scripted run for the store tests: the same FrameResults in every process.

Run as a script, it writes them into a store slowly, so that a test can kill it half way:
``python _store_writer_proc.py STORE NUM_FRAMES FLUSH_EVERY SECONDS_PER_FRAME``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from mocap.io.store import StoreWriter
from mocap.types import NUM_LANDMARKS, FrameResult, Tracks, TrackState

FPS = 25.0
SOURCE = {"kind": "video", "path": "/clips/two_people.mp4", "fps": FPS, "size_wh": [640, 480], "num_frames": 400}
NUM_VERTICES = 10


def track_ids_at(frame_index: int) -> list[int]:
    """Track 1 always; track 2 from frame 3 to 11; track 3 from frame 8 on, away on frames 20-24."""
    ids = [1]
    if 3 <= frame_index < 12:
        ids.append(2)
    if frame_index >= 8 and not 20 <= frame_index < 25:
        ids.append(3)
    return ids


def scripted_result(frame_index: int) -> FrameResult:
    """Frame ``frame_index`` of the scripted run: random but the same in every process.

    Every frame carries ``tokens`` (54,) int16; ``vertices_cam_m`` (10, 3) float16 appears at frame 6.
    """
    ids = track_ids_at(frame_index)
    n = len(ids)
    rng = np.random.default_rng(frame_index)
    tracks = Tracks(
        track_id=np.array(ids, np.int64),
        state=np.full(n, TrackState.CONFIRMED, np.int8),
        age=rng.integers(0, 100, n).astype(np.int32),
        detection_index=np.arange(n, dtype=np.int64),
        xyxy_px=rng.uniform(0, 640, (n, 4)).astype(np.float32),
        score=rng.uniform(0, 1, n).astype(np.float32),
        landmarks_px=rng.uniform(0, 640, (n, NUM_LANDMARKS, 3)).astype(np.float32),
        landmarks_world_m=rng.normal(0, 0.5, (n, NUM_LANDMARKS, 3)).astype(np.float32),
    )
    fields = {"tokens": rng.integers(0, 512, (n, 54)).astype(np.int16)}
    if frame_index >= 6:
        fields["vertices_cam_m"] = rng.normal(0, 1, (n, NUM_VERTICES, 3)).astype(np.float16)
    return FrameResult(frame_index, frame_index / FPS, (640, 480), tracks, fields)


def main(path: str, num_frames: int, flush_every: int, seconds_per_frame: float) -> None:
    with StoreWriter(path, attrs={"source": SOURCE, "fps": FPS}, flush_every=flush_every) as writer:
        for index in range(num_frames):
            writer.write(scripted_result(index))
            time.sleep(seconds_per_frame)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
