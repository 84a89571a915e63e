"""Joint lifters and their ensembles on render folders: which members to join.

For each render folder (``mocap data renders`` shards: MediaPipe's landmarks with exact targets) and each lifter
file, the 12 body joints' MPJPE / PA-MPJPE (mm, hip-centred, camera orientation) of the answer averaged with its own
mirror image (what the live pipeline does; one view), then of the mean of every combination of two or more of the
files (what ``mocap train lifter-ensemble`` would ship). A file that is itself an ensemble counts as one answer.

Choose on ``.cache/renders_val`` (validation subjects) and on new renders of TRAIN motions that no candidate was
trained on (``mocap data renders --first-seed`` beyond every member's seeds): the 30 validation clips alone are too
few to tell members apart (models/lifter_anny/MODEL_CARD.md, "Member 3").

Usage: ``python benchmarks/bench_lifter.py --renders DIR [DIR ...] --lifters A.pt B.pt [...] [--out FILE.json]``
(default out: ``results/lifter_members.json``).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from mocap.lifter.model import lift_joints, load_lifter
from mocap.lifter.train import rendered_lifter_examples
from mocap.mega.evaluate import body_joint_errors_mm
from mocap.mega.rendered import RenderedExamples


def bench_folder(folder: Path, lifters: list[Path]) -> dict:
    examples = RenderedExamples.load_folder(folder)
    truth_m = rendered_lifter_examples(examples, mirrored=False).joints_m.numpy()
    crops = examples.crops(np.arange(len(examples)))
    # The pipeline's own live path: each crop's answer averaged with its mirror twin's (mocap.lifter.lift_joints).
    answers = {path: lift_joints(load_lifter(path), crops) for path in lifters}

    def scored(joints_m: np.ndarray) -> dict[str, float]:
        return {name: round(float(v.mean()), 1) for name, v in body_joint_errors_mm(joints_m, truth_m).items()}

    result: dict = {"examples": len(examples), "alone": {str(p): scored(a) for p, a in answers.items()}, "means": {}}
    for size in range(2, len(lifters) + 1):
        for combo in itertools.combinations(lifters, size):
            key = " + ".join(str(p) for p in combo)
            result["means"][key] = scored(np.mean([answers[p] for p in combo], axis=0))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=Path, nargs="+", required=True, help="render shard folders")
    parser.add_argument("--lifters", type=Path, nargs="+", required=True, help="lifter.pt files (single or ensembles)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "lifter_members.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "benchmark": "bench_lifter",
        "joints": "12 BlazePose body landmarks; hip-centred, camera frame; PA = similarity; one view + own mirror",
        "folders": {str(folder): bench_folder(folder, args.lifters) for folder in args.renders},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
