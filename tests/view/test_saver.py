from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mocap.errors import ConfigError
from mocap.view.saver import FrameSaver, draw_colorbar, draw_text


def test_text_is_drawn_top_left_and_shrunk_to_fit() -> None:
    white = np.full((120, 160, 3), 255, np.uint8)
    out = draw_text(white, "frame 12  0.40 s  30.0 fps  people 2\na long second line that would not fit at all")
    assert (white == 255).all()  # the input is left alone
    dark = (out < 100).all(axis=-1)
    rows, cols = np.nonzero(dark)
    assert cols.max() < 160 - 4 and rows.max() < 60  # inside the image, in the top half
    assert dark[: rows.max() // 2 + 1].any() and dark[rows.max() // 2 + 1 :].any()  # two lines


def test_colorbar_runs_from_blue_at_zero_to_red_at_the_top() -> None:
    out = draw_colorbar(np.full((300, 400, 3), 255, np.uint8), max_m=0.03).astype(int)
    bar = (np.abs(out - 255).sum(axis=-1) > 60) & (out.max(axis=-1) - out.min(axis=-1) > 60)  # saturated pixels
    rows, cols = np.nonzero(bar)
    assert cols.min() > 300  # at the right edge
    top, bottom = out[rows.min() + 1, cols.min() + 1], out[rows.max() - 1, cols.min() + 1]
    assert top[0] > top[2] and bottom[2] > bottom[0]  # red on top, blue at the bottom


def test_pngs_are_named_by_frame_index(tmp_path: Path) -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    image[..., 0] = 200
    with FrameSaver(tmp_path / "out", fps=30.0, size_wh=(30, 20)) as saver:
        saver.write(image, frame_index=7)
    assert saver.frames_written == 1
    saved = cv2.imread(str(tmp_path / "out" / "frame_000007.png"))
    np.testing.assert_array_equal(saved[..., ::-1], image)  # RGB in, RGB back


def test_unwritable_folder_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="--save"):
        FrameSaver(tmp_path / "file" / "frames", fps=30.0, size_wh=(30, 20))
