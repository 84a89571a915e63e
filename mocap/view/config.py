"""How the viewer looks: plain settings, importable without Open3D (the CLI parser and the capture process use them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Viewpoint(str, Enum):
    """Where the virtual camera stands: the capture camera (renders line up with the video) or a 3/4 orbit view."""

    CAMERA = "camera"
    ORBIT = "orbit"


@dataclass(frozen=True)
class ViewerConfig:
    """How the viewer looks.

    Attributes:
        max_size_px: longest side of the window (and of saved frames); the capture's aspect ratio is kept.
        viewpoint: the capture camera, or an orbit view (azimuth/elevation in degrees) around the people.
        visible: a desktop window; False renders offscreen (EGL) for ``--save`` and tests.
        show_grid: draw the estimated ground as a grid.
        show_frustum: draw the capture camera as a pyramid (seen from the orbit view).
        background_rgb: window background, [0, 1].
    """

    max_size_px: int = 960
    viewpoint: Viewpoint = Viewpoint.CAMERA
    orbit_azimuth_deg: float = 40.0
    orbit_elevation_deg: float = 20.0
    visible: bool = True
    show_grid: bool = True
    show_frustum: bool = True
    background_rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = "mocap"
