"""``mocap run SOURCE -o run.zarr``: track the people of a video, image folder or webcam into a zarr store."""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mocap.detect.config import DetectConfig
from mocap.errors import ConfigError
from mocap.mesh.policy import PolicyConfig
from mocap.smooth.kalman import SmoothConfig

if TYPE_CHECKING:  # the heavy modules load when the command runs, not when `mocap --help` builds its parser
    from mocap.io.sources import Source
    from mocap.types import Frame


# One person in front of a webcam is the common case, and MediaPipe runs its person detector on every frame while it
# tracks fewer than max_people: measured on samples/walk.mp4 in live mode, 16-18 frames/s with 1 against 11-12 with 4.
WEBCAM_MAX_PEOPLE = 1


def default_max_people(live_source: bool) -> int:
    """People per frame when --max-people is not given: 1 for a webcam, ``DetectConfig.max_people`` for a file."""
    return WEBCAM_MAX_PEOPLE if live_source else DetectConfig.max_people


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="track people in a video, image folder or webcam into a zarr store",
        description="Track people in SOURCE (a video file, a folder of images, or webcam:N) into a zarr store.",
    )
    p.add_argument("source", help="video file, image folder, or webcam:N")
    p.add_argument("-o", "--output", type=Path, required=True, help="zarr store to write (a directory, e.g. run.zarr)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an interrupted store where it stopped")
    mode.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("--overlay", type=Path, help="also write an H.264 video with boxes, ids and skeletons")
    p.add_argument(
        "--max-people",
        type=int,
        help=f"most people detected per frame (default {WEBCAM_MAX_PEOPLE} for a webcam, {DetectConfig.max_people} "
        "for a file: MediaPipe looks for more people on every frame until it tracks this many)",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=DetectConfig.min_detection_confidence,
        help="MediaPipe detection confidence threshold in [0, 1]",
    )
    p.add_argument("--no-mesh", action="store_true", help="landmarks and tracks only: skip the mesh model")
    p.add_argument(
        "--mode",
        choices=("live", "offline", "quality"),
        help="live: sample only within each frame's time budget; offline: sample uncertain crops and smooth "
        "forward-backward at the end; quality: always sample (default: live for a webcam, offline otherwise)",
    )
    p.add_argument("--samples", type=int, default=PolicyConfig.num_samples, help="MEGA samples per sampled crop (K)")
    p.add_argument(
        "--sample-above",
        type=float,
        default=PolicyConfig.uncertainty_threshold,
        metavar="U",
        help="live and offline modes sample a crop only when its argmax uncertainty (0-1) is above U; the others "
        "get a spread estimated from it (default %(default)s: about the most doubtful 40%% of crops; 0 = all)",
    )
    p.add_argument(
        "--decode",
        choices=("expected", "argmax"),
        default=PolicyConfig.decode,
        help="deterministic mesh: expected code embeddings (default, lower error) or argmax tokens (the paper)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=PolicyConfig.refine_iterations,
        metavar="STEPS",
        help="pull each mesh onto the detected landmarks with STEPS Adam steps in the tokenizer's latent space "
        "(0 = off; 10 is a good value: the mesh sits on the person in overlays, ~0.15 s per person and frame on "
        "one CPU thread; with --lift-share 1 the body joints are the lifter's, so it moves only the surface between)",
    )
    p.add_argument(
        "--mirror-above",
        type=float,
        default=PolicyConfig.mirror_threshold,
        metavar="U",
        help="average the mesh of each crop whose argmax uncertainty (0-1) is above U with MEGA's answer for the "
        "mirror image of the crop (default %(default)s: lower error on doubtful crops, one more model pass for "
        "them; 0 = every crop, 1 = none)",
    )
    p.add_argument(
        "--lift-share",
        type=float,
        default=PolicyConfig.lift_share,
        metavar="S",
        help="move each mesh a share S of the way toward the joint lifter's 3-D body joints (default %(default)s: "
        "lower error, measured on validation renders; 0 = MEGA's own mesh, 1 = onto them)",
    )
    p.add_argument(
        "--world-share",
        type=float,
        default=PolicyConfig.world_share,
        metavar="S",
        help="and a share S toward the detector's 3-D world landmarks at the same joints (default %(default)s)",
    )
    p.add_argument(
        "--steady-size",
        action=argparse.BooleanOptionalAction,
        default=PolicyConfig.steady_size,
        help="scale each person's mesh to the running median size of their track, and offline at the end to the "
        "median over the whole track (default on: a person's size does not change, and the depth is read from it; "
        "off when an id switch would hand one person's size to another)",
    )
    p.add_argument(
        "--mirror-view",
        action=argparse.BooleanOptionalAction,
        help="also run the detector on the left-right flipped frame, and average each person's mesh with MEGA's "
        "answer for that second measurement (lower error on every crop, for a second detector pass per frame run "
        "beside the first; default: on in offline and quality modes, off in live mode)",
    )
    p.add_argument(
        "--reid-frames",
        type=int,
        metavar="N",
        help="a person hidden for longer than the tracker keeps a lost box (1 s) gets their id back if their clothes' "
        "colours match and they come back within N frames (default 150 = 5 s at 30 fps; 0 = never: use it when "
        "people dress alike)",
    )
    p.add_argument(
        "--keep-sides",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="undo the detector's left-right label swaps, against each track's previous frame (default on; off to "
        "see the detector's labels as they came)",
    )
    p.add_argument(
        "--turn-window",
        type=int,
        default=SmoothConfig.turn_window_frames,
        metavar="N",
        help="smooth around meshes turned round from their neighbours (a misread body): offline, coast through a "
        "frame whose body faces away from the frames within N of it; live, through up to N/2 in a row "
        "(default %(default)s; 0 = smooth every mesh)",
    )
    p.add_argument("--focal", type=float, help="focal length in pixels when the camera is unknown (default max(W, H))")
    p.add_argument("--view", action="store_true", help="show the capture live in the 3D viewer")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for the mesh model (default 1: MediaPipe and video decoding use the other cores, "
        "and more threads measured slower on 2 cores)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="where the mesh networks run: auto (a CUDA GPU when torch sees one, else the CPU), cpu, cuda, cuda:1 ... "
        "(the detector runs on the CPU either way)",
    )
    p.add_argument("--max-frames", type=int, help="stop after this many frames (default: the whole source)")
    p.add_argument("--fps", type=float, help="frame rate of an image folder (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _limited(source: Source, max_frames: int | None) -> Iterator[Frame]:
    return iter(source) if max_frames is None else itertools.islice(iter(source), max_frames)


class _Limited:
    """A source view that stops after ``max_frames`` frames (keeps the Source attributes)."""

    def __init__(self, source: Source, max_frames: int | None) -> None:
        self._source, self._max = source, max_frames
        self.is_live, self.description = source.is_live, source.description

    def __iter__(self) -> Iterator[Frame]:
        return _limited(self._source, self._max)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mocap.devices import resolve_device
    from mocap.io.sources import open_source
    from mocap.io.store import StoreWriter, open_store
    from mocap.mesh.models import MeshModels, model_ids
    from mocap.mesh.stage import MeshEstimator
    from mocap.pipeline import CaptureStats, OverlaySink, Pipeline, RunConfig, Sink, StoreSink, capture
    from mocap.smooth.offline import smooth_store
    from mocap.track.sides import SideConfig
    from mocap.track.tracker import TrackConfig
    from mocap.types import FrameResult

    live_source = str(args.source).startswith("webcam:")
    max_people = default_max_people(live_source) if args.max_people is None else args.max_people
    if max_people < 1:
        raise ConfigError(f"--max-people must be at least 1, got {max_people}")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    if args.samples < 0:
        raise ConfigError(f"--samples must be >= 0, got {args.samples}")
    if not 0 <= args.sample_above <= 1:
        raise ConfigError(f"--sample-above is an uncertainty in [0, 1], got {args.sample_above}")
    if not 0 <= args.mirror_above <= 1:
        raise ConfigError(f"--mirror-above is an uncertainty in [0, 1], got {args.mirror_above}")
    for flag, share in (("--lift-share", args.lift_share), ("--world-share", args.world_share)):
        if not 0 <= share <= 1:
            raise ConfigError(f"{flag} is a share in [0, 1], got {share}")
    if args.lift_share + args.world_share > 1:
        raise ConfigError(f"--lift-share + --world-share is at most 1, got {args.lift_share + args.world_share}")
    if args.refine < 0:
        raise ConfigError(f"--refine must be >= 0 steps, got {args.refine}")
    if args.turn_window < 0:
        raise ConfigError(f"--turn-window must be >= 0 frames (0 smooths every mesh), got {args.turn_window}")
    policy = PolicyConfig(
        mode=args.mode or ("live" if live_source else "offline"),
        num_samples=args.samples,
        uncertainty_threshold=args.sample_above,
        decode=args.decode,
        refine_iterations=args.refine,
        mirror_threshold=args.mirror_above,
        lift_share=args.lift_share,
        world_share=args.world_share,
        steady_size=args.steady_size,
    )
    mirror_view = policy.mode != "live" if args.mirror_view is None else args.mirror_view
    config = RunConfig(
        detect=DetectConfig(
            max_people=max_people,
            min_detection_confidence=args.min_confidence,
            min_presence_confidence=args.min_confidence,
            mirror_view=mirror_view and not args.no_mesh,  # only the mesh stage uses the second view
        ),
        track=TrackConfig() if args.reid_frames is None else TrackConfig(reid_frames=args.reid_frames),
        sides=SideConfig(enabled=args.keep_sides),
        mesh=not args.no_mesh,
        policy=policy,
        live_smooth=replace(SmoothConfig.live(), turn_window_frames=args.turn_window),
        offline_smooth=SmoothConfig(turn_window_frames=args.turn_window, track_size=args.steady_size),
        focal_px=args.focal,
    )
    # Models load before anything is written: a missing model file costs nothing.
    estimator = None if args.no_mesh else MeshEstimator(MeshModels.load_default(resolve_device(args.device)), policy)
    mode: Literal["create", "overwrite", "resume"] = (
        "resume" if args.resume else "overwrite" if args.overwrite else "create"
    )
    # The store is opened first: a wrong output path fails before any decoding work.
    attrs = {"config": config.to_dict(), "models": model_ids() if estimator else None}
    writer = StoreWriter(args.output, mode=mode, attrs=attrs)
    try:
        source = open_source(args.source, start_frame=writer.resume_from, fps=args.fps)
    except BaseException:
        writer.close(status="interrupted" if mode == "resume" else "failed")
        if mode != "resume" and writer.frames_committed == 0:
            shutil.rmtree(args.output)  # nothing was captured: leave no empty store behind
        raise
    with source:
        writer.set_source(source)
        if source.num_frames is not None and source.num_frames < config.track.min_hits:
            # A photo (or a clip of fewer frames than confirm a track) has no next frames to confirm its people by:
            # they are confirmed at once, or nobody would ever be tracked in it.
            config = replace(config, track=replace(config.track, min_hits=max(source.num_frames, 1)))
            writer.update_attrs({"config": config.to_dict()})
        if policy.mode == "live":
            policy = replace(policy, frame_budget_s=1.0 / source.fps)
            if estimator is not None:
                estimator.policy = policy
        pipeline = Pipeline(config, first_track_id=writer.next_track_id, mesh=estimator)
        if mode == "resume":
            pipeline.resume(open_store(args.output))
        sinks: list[Sink] = [StoreSink(writer)]
        if args.overlay is not None:
            sinks.append(OverlaySink(args.overlay, source.fps, source.size_wh))
        viewer = None
        if args.view:
            from mocap.view.sink import ViewerSink

            viewer = ViewerSink(fps=source.fps)
            sinks.append(viewer)
        total = source.num_frames - writer.resume_from if source.num_frames else None
        if args.max_frames is not None:
            total = min(total, args.max_frames) if total is not None else args.max_frames
        bar = tqdm(total=total, unit="frame", disable=args.no_progress or None, file=sys.stderr, dynamic_ncols=True)

        def on_frame(result: FrameResult, stats: CaptureStats) -> None:
            bar.update(1)
            bar.set_postfix(fps=f"{stats.fps:.1f}", people=len(result.tracks), ids=len(stats.track_ids))

        try:
            stats = capture(
                _Limited(source, args.max_frames),  # type: ignore[arg-type]
                pipeline,
                sinks,
                on_frame=on_frame,
                should_stop=None if viewer is None else (lambda: viewer.closed),
            )
        finally:
            bar.close()
    if estimator is not None and policy.mode != "live":
        smooth_store(args.output, config.offline_smooth)  # forward-backward: every frame sees its future too
    print(
        f"{args.output}: {stats.frames} frames at {stats.fps:.1f} frames/s, "
        f"{len(stats.track_ids)} tracks, {stats.person_frames} person-frames"
        + (f"; overlay {args.overlay}" if args.overlay else ""),
        file=sys.stderr,
    )
    return 0
