from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from mocap.errors import SourceError
from mocap.io.sources import ImageFolderSource, VideoSource, open_source, upright
from mocap.types import Frame

SIZE_WH = (64, 48)
FPS = 24
NUM_FRAMES = 24


def _colour(i: int) -> np.ndarray:
    """A distinct, codec-friendly flat colour for frame i (red ramps, green falls, blue fixed)."""
    return np.array([10 * i, 240 - 10 * i, 128], np.uint8)


def write_clip(path: Path, codec: str = "libx264", *, rotation_ccw_deg: int = 0, num_frames: int = NUM_FRAMES) -> Path:
    """Encode flat-colour frames (plus a white top-left marker) with PyAV; mp4 gets its index first."""
    options = {"movflags": "faststart"} if path.suffix == ".mp4" else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = SIZE_WH
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000  # mpeg4's default rate blurs the colours
        if rotation_ccw_deg:
            stream.set_display_rotation(rotation_ccw_deg)
        container.start_encoding()  # write the header even for zero frames
        for i in range(num_frames):
            image = np.broadcast_to(_colour(i), (SIZE_WH[1], SIZE_WH[0], 3)).copy()
            image[:8, :8] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _mean_colour(frame: Frame) -> np.ndarray:
    return frame.image_rgb[16:, 16:].reshape(-1, 3).mean(axis=0)


CODECS = [
    ("mp4", "libx264", "h264"),
    ("mkv", "libx264", "h264"),
    ("mp4", "mpeg4", "mpeg4"),
    ("webm", "libvpx-vp9", "vp9"),
]


@pytest.mark.parametrize(("suffix", "encoder", "decoder"), CODECS)
def test_video_frames_times_and_colours(tmp_path: Path, suffix: str, encoder: str, decoder: str) -> None:
    path = write_clip(tmp_path / f"clip.{suffix}", encoder)
    with open_source(path) as source:
        assert isinstance(source, VideoSource) and source.kind == "video" and not source.is_live
        assert source.fps == pytest.approx(FPS) and source.size_wh == SIZE_WH
        assert source.num_frames == NUM_FRAMES
        assert decoder in source.description and str(path) in source.description
        frames = list(source)
    assert [f.index for f in frames] == list(range(NUM_FRAMES))
    np.testing.assert_allclose([f.time_s for f in frames], np.arange(NUM_FRAMES) / FPS, atol=1e-3)
    for i, frame in enumerate(frames):
        assert frame.size_wh == SIZE_WH
        np.testing.assert_allclose(_mean_colour(frame), _colour(i), atol=8)


def test_video_can_be_iterated_twice(tmp_path: Path) -> None:
    source = open_source(write_clip(tmp_path / "clip.mp4", num_frames=5))
    assert len(list(source)) == len(list(source)) == 5


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_start_frame_keeps_true_indices_and_times(tmp_path: Path, suffix: str) -> None:
    path = write_clip(tmp_path / f"clip.{suffix}")
    frames = list(open_source(path, start_frame=10))
    assert [f.index for f in frames] == list(range(10, NUM_FRAMES))
    assert frames[0].time_s == pytest.approx(10 / FPS, abs=1e-3)
    np.testing.assert_allclose(_mean_colour(frames[0]), _colour(10), atol=8)


def test_start_frame_past_the_end_yields_nothing(tmp_path: Path) -> None:
    assert list(open_source(write_clip(tmp_path / "clip.mp4"), start_frame=NUM_FRAMES + 5)) == []


def test_fps_override_retimes_frames_but_keeps_indices(tmp_path: Path) -> None:
    source = open_source(write_clip(tmp_path / "clip.mp4"), fps=12.5, start_frame=5)
    assert source.fps == 12.5 and source.num_frames == NUM_FRAMES
    frames = list(source)
    assert [f.index for f in frames] == list(range(5, NUM_FRAMES))
    assert [f.time_s for f in frames] == pytest.approx([i / 12.5 for i in range(5, NUM_FRAMES)])
    np.testing.assert_allclose(_mean_colour(frames[0]), _colour(5), atol=8)


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_truncated_video_yields_the_good_frames_then_raises(tmp_path: Path, suffix: str) -> None:
    data = write_clip(tmp_path / f"clip.{suffix}").read_bytes()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: int(len(data) * 0.9)])
    frames: list[Frame] = []
    with pytest.raises(SourceError, match="truncated") as info:
        frames.extend(open_source(cut))
    assert 0 < len(frames) < NUM_FRAMES
    assert str(cut) in str(info.value) and "ffmpeg" in str(info.value)
    assert [f.index for f in frames] == list(range(len(frames)))


def test_mp4_cut_before_its_index_is_named(tmp_path: Path) -> None:
    path = tmp_path / "recording.mp4"
    with av.open(str(path), "w") as container:  # no faststart: the index (moov) is written last
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = SIZE_WH
        for i in range(NUM_FRAMES):
            image = np.broadcast_to(_colour(i), (SIZE_WH[1], SIZE_WH[0], 3)).copy()
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(SourceError, match=r"truncated MP4.*untrunc"):
        open_source(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "not a readable video"), (b"these are my notes, not a video\n" * 20, "not a readable video")],
)
def test_not_a_video(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=words) as info:
        open_source(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "encoder", "words"), [("empty.avi", "mpeg4", "no frame"), ("empty.mp4", "libx264", "zero")]
)
def test_video_with_zero_frames(tmp_path: Path, name: str, encoder: str, words: str) -> None:
    path = write_clip(tmp_path / name, encoder, num_frames=0)
    with pytest.raises(SourceError, match=words):
        open_source(path)


def test_missing_file() -> None:
    with pytest.raises(SourceError, match="not found"):
        open_source("/no/such/clip.mp4")


def test_negative_start_frame(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="start_frame"):
        open_source(tmp_path, start_frame=-1)


def test_upright_rotates_counter_clockwise() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)  # [[0 1 2], [3 4 5]]
    assert upright(image, 0) is image
    assert upright(image, 90)[..., 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert upright(image, -90)[..., 0].tolist() == [[3, 0], [4, 1], [5, 2]]
    assert upright(image, 180)[..., 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert upright(image, 270).tolist() == upright(image, -90).tolist()


def test_phone_portrait_rotation_is_applied(tmp_path: Path) -> None:
    # A phone held upright stores landscape pixels and a display matrix of -90 (turn clockwise).
    source = open_source(write_clip(tmp_path / "portrait.mp4", rotation_ccw_deg=-90, num_frames=2))
    assert source.size_wh == (SIZE_WH[1], SIZE_WH[0])
    assert "rotation -90" in source.description
    image = next(iter(source)).image_rgb
    assert image.shape == (SIZE_WH[0], SIZE_WH[1], 3)
    # turned clockwise, the stored top-left marker is now at the top-right
    assert image[:6, -6:].mean() > 200 and image[:6, :6].mean() < 200


# --- image folders -------------------------------------------------------------------------------------------------


def _write_image(path: Path, rgb: tuple[int, int, int], size_wh: tuple[int, int] = (40, 30)) -> None:
    image = np.empty((size_wh[1], size_wh[0], 3), np.uint8)
    image[:] = rgb
    assert cv2.imwrite(str(path), image[..., ::-1])


def test_image_folder_sorted_rgb_and_timed(tmp_path: Path) -> None:
    colours = [(200, 20, 20), (20, 200, 20), (20, 20, 200)]
    for name, colour in zip(["b.png", "a.jpg", "c.bmp"], [colours[1], colours[0], colours[2]], strict=True):
        _write_image(tmp_path / name, colour)
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path)
    assert isinstance(source, ImageFolderSource) and source.kind == "images"
    assert (source.num_frames, source.fps, source.size_wh, source.is_live) == (3, 30.0, (40, 30), False)
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time_s for f in frames] == pytest.approx([0, 1 / 30, 2 / 30])
    for frame, colour in zip(frames, colours, strict=True):
        np.testing.assert_allclose(frame.image_rgb.reshape(-1, 3).mean(axis=0), colour, atol=3)


def test_image_folder_fps_and_start_frame(tmp_path: Path) -> None:
    for i in range(4):
        _write_image(tmp_path / f"{i:03d}.png", (i * 50, 0, 0))
    frames = list(open_source(tmp_path, start_frame=2, fps=10))
    assert [(f.index, f.time_s) for f in frames] == [(2, 0.2), (3, 0.3)]
    assert frames[0].image_rgb[0, 0, 0] == 100


def test_image_exif_orientation_is_applied(tmp_path: Path) -> None:
    from PIL import Image

    stored = np.zeros((30, 40, 3), np.uint8)
    stored[:8, :8] = 255
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: shown turned 90 degrees clockwise (a phone held upright)
    image.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    source = open_source(tmp_path)
    upright_rgb = next(iter(source)).image_rgb
    assert source.size_wh == (30, 40) and upright_rgb.shape == (40, 30, 3)
    assert upright_rgb[:6, -6:].mean() > 200 and upright_rgb[:6, :6].mean() < 50


def test_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)


def test_unreadable_image(tmp_path: Path) -> None:
    _write_image(tmp_path / "000.png", (1, 2, 3))
    (tmp_path / "001.png").write_bytes(b"not a png")
    frames: list[Frame] = []
    with pytest.raises(SourceError, match=r"001\.png: unreadable image"):
        frames.extend(open_source(tmp_path))
    assert len(frames) == 1


def test_images_of_different_sizes(tmp_path: Path) -> None:
    _write_image(tmp_path / "000.png", (1, 2, 3))
    _write_image(tmp_path / "001.png", (1, 2, 3), size_wh=(20, 20))
    with pytest.raises(SourceError, match="resize"):
        list(open_source(tmp_path))
