"""How a synthetic clip is made: kept apart from the renderer so that reading it (``mocap synth --help``) imports
nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from mocap.errors import ConfigError


@dataclass(frozen=True)
class SynthConfig:
    """How a clip is made. Stored in the ground-truth store's attrs.

    Attributes:
        people: number of people.
        seconds: clip length.
        fps: frame rate; performances must be sampled at this rate.
        size_wh: image (width, height) in pixels.
        seed: draws phenotypes, clothing, staging and the camera.
        fov_y_deg: range of the vertical field of view.
        camera_height_m: range of the eye height.
        camera_sway_m: amplitude of the camera's sway.
        crf: x264 quality (lower is better and bigger).
        store_vertices: store the posed meshes (float16, ~48 kB per person-frame); without them the
            pose, phenotype and root position still reproduce each mesh exactly through ``AnnyBody``.
    """

    people: int = 1
    seconds: float = 4.0
    fps: float = 30.0
    size_wh: tuple[int, int] = (640, 480)
    seed: int = 0
    fov_y_deg: tuple[float, float] = (40.0, 55.0)
    camera_height_m: tuple[float, float] = (1.1, 1.7)
    camera_sway_m: float = 0.05
    crf: int = 23
    store_vertices: bool = True

    def __post_init__(self) -> None:
        if self.people < 1:
            raise ConfigError(f"people must be at least 1, but got {self.people}")
        if not self.seconds > 0 or not self.fps > 0:
            raise ConfigError(f"seconds and fps must be positive, but got {self.seconds} s at {self.fps} fps")
        if min(self.size_wh) < 16:
            raise ConfigError(f"size must be at least 16x16 pixels, but got {self.size_wh}")

    @property
    def num_frames(self) -> int:
        return int(round(self.seconds * self.fps))
