from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mocap.errors import ConfigError
from mocap.io.video_writer import VideoWriter, even_size_wh


def _image(i: int, size_wh: tuple[int, int]) -> np.ndarray:
    image = np.empty((size_wh[1], size_wh[0], 3), np.uint8)
    image[:] = (20 * i, 200 - 20 * i, 100)
    return image


def _decode(path: Path) -> tuple[av.video.stream.VideoStream, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream, [f.to_ndarray(format="rgb24") for f in container.decode(stream)]


@pytest.mark.parametrize("size_wh", [(64, 48), (33, 17)])
def test_writes_h264_yuv420p_that_decodes_to_the_same_colours(tmp_path: Path, size_wh: tuple[int, int]) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 30, size_wh) as writer:
        for i in range(10):
            writer.write(_image(i, size_wh))
    assert writer.frames_written == 10
    stream, images = _decode(path)
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert (stream.width, stream.height) == even_size_wh(size_wh)
    assert stream.average_rate == 30 and len(images) == 10
    for i, image in enumerate(images):
        # the padded edge column/row repeats the image, so the whole frame has the colour
        np.testing.assert_allclose(image.reshape(-1, 3).mean(axis=0), _image(i, (1, 1))[0, 0], atol=4)


def test_even_size() -> None:
    assert even_size_wh((33, 17)) == (34, 18)
    assert even_size_wh((64, 48)) == (64, 48)


def test_fractional_fps_is_kept(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "ntsc.mkv", 30000 / 1001, (16, 16)) as writer:
        writer.write(_image(0, (16, 16)))
        writer.write(_image(1, (16, 16)))
    stream, _ = _decode(tmp_path / "ntsc.mkv")
    assert stream.average_rate == Fraction(30000, 1001)


def test_lower_crf_is_closer_to_the_input(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    errors = {}
    for crf in (0, 40):
        with VideoWriter(tmp_path / f"crf{crf}.mp4", 10, (32, 32), crf=crf) as writer:
            for image in noise:
                writer.write(image)
        _, decoded = _decode(tmp_path / f"crf{crf}.mp4")
        errors[crf] = np.abs(decoded[0].astype(int) - noise[0]).mean()
    assert errors[0] < errors[40]


@pytest.mark.parametrize("target", ["file/run.mp4", "missing/dir/run.mp4", "."])
def test_unwritable_path(tmp_path: Path, target: str) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="choose a writable path"):
        VideoWriter(tmp_path / target, 30, (16, 16))


def test_unknown_container(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\.mp4"):
        VideoWriter(tmp_path / "out.notavideo", 30, (16, 16))
    assert not (tmp_path / "out.notavideo").exists()


@pytest.mark.parametrize(("fps", "size_wh", "crf"), [(0, (16, 16), 23), (30, (0, 16), 23), (30, (16, 16), 60)])
def test_invalid_settings(tmp_path: Path, fps: float, size_wh: tuple[int, int], crf: int) -> None:
    with pytest.raises(ConfigError):
        VideoWriter(tmp_path / "out.mp4", fps, size_wh, crf=crf)


def test_wrong_image_and_closed_writer(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", 30, (16, 16))
    with pytest.raises(ValueError, match=r"\(16, 16, 3\)"):
        writer.write(np.zeros((16, 17, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        writer.write(np.zeros((16, 16, 3), np.float32))
    writer.close()
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(np.zeros((16, 16, 3), np.uint8))
