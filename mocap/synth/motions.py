"""Held-out motions for synthetic clips: the motion dataset's test split as :class:`Performance` s.

Synthetic clips measure the pipeline, so they only use motions of the held-out capture subjects
(:mod:`mocap.motion.splits`), never the ones the models train on. A motion is named
``<collection>/<clip>`` (e.g. ``cmu_asf_amc/02_01``), optionally with a start time in seconds:
``cmu_asf_amc/02_06@6.5``.

Example:
    >>> names = held_out_names()  # doctest: +SKIP
    >>> held_out_performances(SynthConfig(people=2, seed=1))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from mocap.errors import ConfigError
from mocap.motion.dataset import MotionDataset, Sequence
from mocap.motion.splits import Split
from mocap.synth.clip import Performance, SynthConfig

log = logging.getLogger(__name__)

# Licence of the sources the test split draws from (the data folder's README).
CMU_LICENCE = (
    "CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu, NSF EIA-0196217): free for research and "
    "commercial use; the data itself may not be resold"
)
_SEED_STREAM = 4  # draws of the motions, beside clip.py's streams 0-3


def motion_name(sequence: Sequence) -> str:
    return f"{sequence.collection}/{sequence.clip}"


@functools.lru_cache(maxsize=3)
def _sequences(split: Split) -> dict[str, Sequence]:
    return {motion_name(s): s for s in MotionDataset.load().split(split)}


def _test_sequences() -> dict[str, Sequence]:
    return _sequences("test")


def parse_motion(text: str, fps: float) -> tuple[str, int]:
    """``NAME`` or ``NAME@START_SECONDS`` -> (name, start frame)."""
    name, _, start = text.partition("@")
    try:
        start_s = float(start) if start else 0.0
    except ValueError:
        raise ConfigError(f"motion {text!r}: the start after @ must be seconds, e.g. {name}@2.5") from None
    if start_s < 0:
        raise ConfigError(f"motion {text!r}: the start must not be negative")
    return name, int(round(start_s * fps))


def held_out_names() -> list[str]:
    """Names of every held-out (test split) motion, with its length."""
    return [f"{name}  ({len(s) / s.fps:.1f} s)" for name, s in sorted(_test_sequences().items())]


def _performance(sequence: Sequence, num_frames: int, start: int) -> Performance:
    window = slice(start, start + num_frames)
    name = motion_name(sequence) + (f"@{start / sequence.fps:g}" if start else "")  # replayable by --motion
    return Performance(
        name=name,
        pose_rotmat=np.asarray(sequence.pose_rotmat()[window], np.float64),
        transl_m=np.asarray(sequence.transl_m[window], np.float64),
        licence=CMU_LICENCE if sequence.subject.startswith("cmu") else f"see {sequence.source}",
    )


def held_out_performances(config: SynthConfig, names: tuple[str, ...] = ()) -> list[Performance]:
    """One performance per person, ``config.num_frames`` long, from the test split.

    Args:
        config: people, length, fps and seed.
        names: one motion name per person, ``NAME`` or ``NAME@START_SECONDS``; empty = drawn by the
            seed among the motions long enough, each starting at a random frame.

    Raises:
        ConfigError: unknown name, a motion too short, or no held-out motion long enough.
    """
    sequences = _test_sequences()
    frames = config.num_frames
    if any(abs(s.fps - config.fps) > 1e-3 for s in sequences.values()):
        raise ConfigError(f"the motion dataset is sampled at 30 fps: use --fps 30 (got {config.fps})")
    if names:
        named = [parse_motion(n, config.fps) for n in names]
        if unknown := [n for n, _ in named if n not in sequences]:
            raise ConfigError(f"unknown held-out motions {unknown}: `mocap synth --list-motions` lists them")
        if short := [f"{n}@{s / config.fps:g}" for n, s in named if len(sequences[n]) < s + frames]:
            raise ConfigError(f"motions {short} end before {config.seconds} s: ask for fewer --seconds")
        return [_performance(sequences[n], frames, start) for n, start in named]
    return random_performances(config, "test")


def random_performances(config: SynthConfig, split: Split, collection: str | None = None) -> list[Performance]:
    """One performance per person, ``config.num_frames`` long, drawn by ``config.seed`` from ``split``'s motions
    (of one ``collection`` only, e.g. "cmu_deepmimic_jump", when given).

    ``split="train"`` makes training renders (``mocap.mega.rendered``); measurement clips use ``"test"``.
    """
    sequences, frames = _sequences(split), config.num_frames
    if collection is not None:
        sequences = {n: s for n, s in sequences.items() if s.collection == collection}
    long_enough = sorted(n for n, s in sequences.items() if len(s) >= frames)
    if len(long_enough) < config.people:
        among = f"{split} motions" + (f" of collection {collection!r}" if collection else "")
        raise ConfigError(
            f"fewer than {config.people} {among} last {config.seconds} s: ask for less"
            + (" or check the name (`mocap data build` lists the clips it caches by collection)" if collection else "")
        )
    rng = np.random.default_rng([config.seed, _SEED_STREAM])
    chosen = rng.choice(len(long_enough), size=config.people, replace=False)
    performances = []
    for index in chosen:
        sequence = sequences[long_enough[index]]
        performances.append(_performance(sequence, frames, int(rng.integers(0, len(sequence) - frames + 1))))
    log.info("%s motions: %s", split, ", ".join(p.name for p in performances))
    return performances
