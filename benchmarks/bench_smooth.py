"""The offline smoother's settings compared end to end on kept ``mocap run`` stores.

A store's raw fields (meshes, spreads) do not depend on the smoother, so one run per clip serves every setting: each
setting re-smooths a copy of the store (``mocap.smooth.offline.smooth_store``) and ``bench_capture.evaluate`` scores it
against the clip's ground truth; the report ends with means weighted by matched person-frames. Make the stores with
``bench_capture.py CLIPS --stores DIR`` (or ``mocap run``) on clips beside their ``NAME.gt.zarr``.

Usage: ``python benchmarks/bench_smooth.py STORES GT_DIR [--setting NAME=ACCEL,FLOOR,GAIN,CENTROID ...]
[--out FILE.json]``. A store ``DIR/NAME*.zarr`` is scored against ``GT_DIR/NAME.gt.zarr``. Default settings:
``session5`` (accel 6 m/s^2, floor 0.01 m, gain 1.5, centroid 6: one setting for everything), ``default``
(``SmoothConfig()``) and ``running_size`` (the default without the whole track's size, ``track_size=False``).
Session 13 chose the defaults with it (models/mega_anny/MODEL_CARD.md, "Smoothing, session 13").
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench_capture import evaluate, weighted_means

from mocap.io.store import open_store
from mocap.smooth.kalman import SmoothConfig
from mocap.smooth.offline import smooth_store

SETTINGS = {
    "session5": SmoothConfig(
        accel_std_m_s2=6.0, measurement_floor_m=0.01, uncertainty_gain=1.5, centroid_accel_std_m_s2=6.0
    ),
    "default": SmoothConfig(),
    "running_size": SmoothConfig(track_size=False),  # each mesh at the size the run held it (before session 22)
}


def parse_setting(text: str) -> tuple[str, SmoothConfig]:
    """``NAME=ACCEL,FLOOR,GAIN,CENTROID`` (m/s^2, m, -, m/s^2) -> (name, config)."""
    name, _, values = text.partition("=")
    try:
        accel, floor, gain, centroid = (float(v) for v in values.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r}: write NAME=ACCEL,FLOOR,GAIN,CENTROID, e.g. a10=10,0.02,0.25,2"
        ) from error
    config = SmoothConfig(
        accel_std_m_s2=accel, measurement_floor_m=floor, uncertainty_gain=gain, centroid_accel_std_m_s2=centroid
    )  # the other fields (turns, track size) as the default
    return name, config


def ground_truth(store: Path, gt_dir: Path) -> Path:
    """``DIR/NAME.MODE.zarr`` or ``DIR/NAME.zarr`` -> ``GT_DIR/NAME.gt.zarr``."""
    return gt_dir / f"{store.name.split('.')[0]}.gt.zarr"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", type=Path, help="folder of finished offline stores")
    parser.add_argument("gt_dir", type=Path, help="folder of the clips' NAME.gt.zarr")
    parser.add_argument("--setting", type=parse_setting, action="append", help="NAME=ACCEL,FLOOR,GAIN,CENTROID")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "smooth.json")
    args = parser.parse_args()
    settings = dict(args.setting) if args.setting else SETTINGS

    stores = [p for p in sorted(args.stores.glob("*.zarr")) if ground_truth(p, args.gt_dir).exists()]
    stores = [p for p in stores if open_store(p).attrs.get("status") == "complete"]
    if not stores:
        sys.exit(f"no finished store in {args.stores} has its NAME.gt.zarr in {args.gt_dir}")
    clips: dict[str, dict[str, dict]] = {name: {} for name in settings}
    for store in stores:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / store.name
            shutil.copytree(store, copy)
            for name, config in settings.items():
                smooth_store(copy, config)
                clips[name][store.name] = evaluate(copy, ground_truth(store, args.gt_dir))
        print(store.name, {name: round(clips[name][store.name]["mpjpe_mm"], 1) for name in settings}, flush=True)

    report = {
        "stores": str(args.stores),
        "settings": {name: vars(config) for name, config in settings.items()},
        "mean_over_person_frames": {name: weighted_means(result) for name, result in clips.items()},
        "clips": clips,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["mean_over_person_frames"], indent=2))


if __name__ == "__main__":
    main()
