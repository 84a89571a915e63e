"""``mocap view`` end to end through the CLI (offscreen: --save)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from mocap.cli import main


@pytest.mark.slow  # the CLI imports every command (torch, MediaPipe) first
def test_view_saves_a_video(two_people_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "view.mp4"
    argv = ["view", str(two_people_store), "--save", str(out), "--tracks", "2", "--speed", "2"]
    argv += ["--viewpoint", "orbit", "--color-by", "uncertainty", "--size", "160"]
    assert main(argv) == 0
    assert "rendered 3 frames" in capsys.readouterr().out
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (160, 120)
        assert float(stream.average_rate) == pytest.approx(60.0)  # 30 fps at speed 2
        assert sum(1 for _ in container.decode(stream)) == 3


def test_without_a_display_the_viewer_asks_for_save(
    two_people_store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", str(two_people_store)]) == 5  # ConfigError
    assert "--save" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "code"),
    [(["--speed", "0"], 5), (["--size", "4"], 5)],
)
def test_bad_flags(two_people_store: Path, tmp_path: Path, extra: list[str], code: int) -> None:
    assert main(["view", str(two_people_store), "--save", str(tmp_path / "o"), *extra]) == code


def test_bad_track_list_is_a_usage_error(two_people_store: Path) -> None:
    with pytest.raises(SystemExit) as error:
        main(["view", str(two_people_store), "--tracks", "a,b"])
    assert error.value.code == 2


def test_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", str(tmp_path / "nope.zarr"), "--save", str(tmp_path / "o")]) == 3  # StoreError
    assert "mocap run" in capsys.readouterr().err
