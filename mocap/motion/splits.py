"""The fixed train / validation / held-out test split of the motion data, by CAPTURE SUBJECT.

A subject's clips all land in one split, so no person's motion style leaks from training into
evaluation. Later work (tokenizer, MEGA, the synthetic benchmark) must keep these lists; add new
subjects to TRAIN unless a new held-out set is being made on purpose.

Subjects are named by source: ``cmuNN`` for CMU mocap subject NN (whatever the file format),
``fair1`` and ``rokoko_jesse`` for the AnimatedDrawings actors, ``ad_cmu1`` for AnimatedDrawings'
CMU jumping-jacks clip (its CMU subject is not stated; it may be subject 14, so it is kept in train
with subject 14).

Example:
    >>> split_of("cmu02")
    'test'
"""

from __future__ import annotations

from typing import Final, Literal

Split = Literal["train", "validation", "test"]
SPLITS: Final = ("train", "validation", "test")

# Held out for the end-to-end benchmark: everyday actions (02: walk, run, jump, punch, swordplay),
# plain walking (08) and acrobatic dance (49: modern dance, cartwheels, leaps).
TEST_SUBJECTS: Final = frozenset({"cmu02", "cmu08", "cmu49"})
# For model selection: uneven-terrain walking (03), jumps (13), sneaking and boxing (17), Indian
# dance (94), AnimatedDrawings' dances and jumps (fair1).
VALIDATION_SUBJECTS: Final = frozenset({"cmu03", "cmu13", "cmu17", "cmu94", "fair1"})


def split_of(subject: str) -> Split:
    """The split a capture subject belongs to (unknown subjects train)."""
    if subject in TEST_SUBJECTS:
        return "test"
    if subject in VALIDATION_SUBJECTS:
        return "validation"
    return "train"
