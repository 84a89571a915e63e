"""The 3D viewer: Open3D's legacy ``Visualizer``, a window on a desktop, EGL offscreen without one.

:meth:`Viewer.show` draws one :class:`~mocap.view.scene.FrameState`, updating the meshes in
place: one ``TriangleMesh`` per track id, created when the track appears, removed when it
leaves, its vertices and colours overwritten every frame. The legacy API has no text overlay
and cannot rename its window after it opens, so the frame index and fps are in
:attr:`Viewer.status` (the CLI logs it, :class:`~mocap.view.saver.FrameSaver` draws it on saved
frames). ``rendering.OffscreenRenderer`` is not used: it needs Vulkan here.

Example:
    >>> viewer = Viewer(StaticScene(faces, default_intrinsics((640, 480)), (640, 480)),
    ...                 ViewerConfig(visible=False))  # doctest: +SKIP
    >>> viewer.show(state); image_rgb = viewer.capture_rgb()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import open3d as o3d

from mocap.view.config import ViewerConfig, Viewpoint
from mocap.view.scene import (
    FrameState,
    GroundPlane,
    frustum_lines,
    grid_lines,
    orbit_extrinsic,
    scale_intrinsics,
)

log = logging.getLogger(__name__)

# GLFW key codes (what Open3D's key callbacks receive).
KEY_SPACE, KEY_RIGHT, KEY_LEFT, KEY_Q, KEY_ESCAPE, KEY_C, KEY_O = 32, 262, 263, 81, 256, 67, 79
KEY_PLUS, KEY_EQUAL, KEY_MINUS, KEY_KP_ADD, KEY_KP_SUBTRACT = 43, 61, 45, 334, 333
KEY_DIGITS = tuple(range(49, 58))  # "1" .. "9"
_GRID_RGB = (0.55, 0.55, 0.55)
_FRUSTUM_RGB = (0.1, 0.1, 0.1)


@dataclass(frozen=True, eq=False)
class StaticScene:
    """What does not change from frame to frame.

    Attributes:
        faces: (F, 3) triangle vertex indices shared by every person.
        intrinsics: (3, 3) capture camera matrix in pixels of ``size_wh``.
        size_wh: the capture image size, pixels.
    """

    faces: npt.NDArray[np.integer]
    intrinsics: npt.NDArray[np.float64]
    size_wh: tuple[int, int]


def render_size_wh(size_wh: tuple[int, int], max_size_px: int) -> tuple[tuple[int, int], float]:
    """The window size keeping the capture's aspect ratio with its longest side ``max_size_px``, and the scale."""
    scale = max_size_px / max(size_wh)
    return (max(1, round(size_wh[0] * scale)), max(1, round(size_wh[1] * scale))), scale


class Viewer:
    """Shows frames of tracked meshes; one verb, :meth:`show`.

    Args:
        scene: faces, intrinsics and image size of the capture.
        config: window size, viewpoint, visibility.
    """

    def __init__(self, scene: StaticScene, config: ViewerConfig | None = None) -> None:
        self.scene = scene
        self.config = config or ViewerConfig()
        self.size_wh, self._scale = render_size_wh(scene.size_wh, self.config.max_size_px)
        self._vis = o3d.visualization.VisualizerWithKeyCallback()
        w, h = self.size_wh
        if not self._vis.create_window(window_name=self.config.title, width=w, height=h, visible=self.config.visible):
            raise RuntimeError("Open3D could not open a window or an EGL offscreen context")
        options = self._vis.get_render_option()
        options.background_color = np.asarray(self.config.background_rgb)
        options.mesh_show_back_face = False  # bodies are closed; culling halves llvmpipe's work
        options.light_on = True
        self._triangles = o3d.utility.Vector3iVector(np.asarray(scene.faces, np.int32))
        self._meshes: dict[int, o3d.geometry.TriangleMesh] = {}
        self._grid = o3d.geometry.LineSet()
        self._grid_shown = False
        self._closed = False
        self._destroyed = False
        self._view_set = False
        self.status = ""
        self._frustum = _line_set(*frustum_lines(scene.intrinsics, scene.size_wh), _FRUSTUM_RGB)
        self._frustum_shown = False
        self._target_m: npt.ArrayLike | None = None
        self.viewpoint = self.config.viewpoint
        if self.config.show_grid:
            self.set_ground(GroundPlane(), (0.0, 0.0, 3.0))

    # -- public --

    @property
    def closed(self) -> bool:
        """True once the user closed the window (or :meth:`close` was called)."""
        return self._closed

    def on_key(self, key: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when ``key`` (a GLFW key code) is pressed; replaces Open3D's own binding."""

        def handle(_vis: o3d.visualization.Visualizer) -> bool:
            callback()
            return True  # redraw

        self._vis.register_key_callback(key, handle)

    def set_faces(self, faces: npt.NDArray[np.integer]) -> None:
        """Use other triangles (a store followed from before its first mesh); drops the meshes shown."""
        self.scene = StaticScene(faces, self.scene.intrinsics, self.scene.size_wh)
        self._triangles = o3d.utility.Vector3iVector(np.asarray(faces, np.int32))
        for geometry in self._meshes.values():
            self._vis.remove_geometry(geometry, reset_bounding_box=False)
        self._meshes.clear()

    def set_ground(self, plane: GroundPlane, center_m: npt.ArrayLike) -> None:
        """Draw (or move) the ground grid: ``plane`` around the foot of ``center_m``."""
        if not self.config.show_grid:
            return
        points, lines = grid_lines(plane, center_m)
        self._grid.points = o3d.utility.Vector3dVector(points)
        self._grid.lines = o3d.utility.Vector2iVector(lines)
        self._grid.paint_uniform_color(_GRID_RGB)
        if self._grid_shown:
            self._vis.update_geometry(self._grid)
        else:
            self._add(self._grid)
            self._grid_shown = True

    def show(self, state: FrameState, status: str = "") -> None:
        """Draw ``state``: update, add and remove the per-track meshes, then render and handle events."""
        present = {m.track_id for m in state.meshes}
        for track_id in [t for t in self._meshes if t not in present]:
            self._vis.remove_geometry(self._meshes.pop(track_id), reset_bounding_box=False)
        for mesh in state.meshes:
            geometry = self._meshes.get(mesh.track_id)
            if geometry is None or len(geometry.vertices) != len(mesh.vertices_cam_m):
                if geometry is not None:
                    self._vis.remove_geometry(geometry, reset_bounding_box=False)
                geometry = self._meshes[mesh.track_id] = self._new_mesh(mesh.vertices_cam_m, mesh.colors_rgb)
                self._add(geometry)
            else:
                np.asarray(geometry.vertices)[:] = mesh.vertices_cam_m  # in place: no new buffers per frame
                np.asarray(geometry.vertex_colors)[:] = mesh.colors_rgb
                geometry.compute_vertex_normals()
                self._vis.update_geometry(geometry)
        self.status = status or f"frame {state.frame_index}  people {state.num_people}"
        if state.note and state.note not in self.status:
            self.status += f"\n{state.note}"
        if not self._closed:
            self._vis.update_renderer()  # marks the frame for redrawing; poll_events draws it
        self.poll()

    def poll(self) -> bool:
        """Handle window events (redrawing only when needed); returns False once the window is closed."""
        if not self._closed and not self._vis.poll_events():
            self._closed = True
        return not self._closed

    def capture_rgb(self) -> npt.NDArray[np.uint8]:
        """The frame drawn by the last :meth:`show` or :meth:`poll`: (H, W, 3) uint8 RGB of :attr:`size_wh`."""
        # Read back without rendering again: a llvmpipe render costs ~10x the read-back.
        buffer = np.asarray(self._vis.capture_screen_float_buffer(do_render=False))  # (H, W, 3) float in [0, 1]
        return (np.clip(buffer, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def set_viewpoint(self, target_m: npt.ArrayLike | None = None, viewpoint: Viewpoint | None = None) -> None:
        """Put the virtual camera at the capture camera, or orbit around ``target_m`` (the people's centre).

        ``viewpoint`` switches between the two (keys c and o); by default the current one is kept.
        """
        self.viewpoint = viewpoint or self.viewpoint
        self._target_m = self._target_m if target_m is None else target_m
        self._view_set = True  # before _show_frustum: adding it must not reset the view
        self._show_frustum(self.config.show_frustum and self.viewpoint is Viewpoint.ORBIT)  # edge-on from itself
        control = self._vis.get_view_control()
        params = control.convert_to_pinhole_camera_parameters()
        w, h = self.size_wh
        k = scale_intrinsics(self.scene.intrinsics, self._scale)
        # Open3D renders only a centred principal point ((w - 1) / 2 in its pixel convention: centres at integers,
        # ours at +0.5). An off-centre one (a calibrated camera) only shifts the picture by (cx - w/2, cy - h/2)
        # pixels, which a free 3D view can take; `mocap render`, which overlays the video, pads instead.
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, k[0, 0], k[1, 1], (w - 1) / 2, (h - 1) / 2)
        if self.viewpoint is Viewpoint.ORBIT:
            target = np.asarray((0.0, 0.0, 3.0) if self._target_m is None else self._target_m, np.float64)
            distance = max(2.5, 0.9 * float(np.linalg.norm(target)))  # people large; the mouse zooms out
            az, el = np.radians(self.config.orbit_azimuth_deg), np.radians(self.config.orbit_elevation_deg)
            params.extrinsic = orbit_extrinsic(target, az, el, distance)
        else:
            params.extrinsic = np.eye(4)  # the scene is in the capture camera's frame
        if not control.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            log.warning("Open3D refused the %s viewpoint; keeping its default view", self.viewpoint.value)
        control.set_constant_z_near(0.05)
        control.set_constant_z_far(200.0)

    def close(self) -> None:
        """Close the window (or offscreen context); safe to call twice."""
        if not self._destroyed:
            self._vis.destroy_window()
            self._destroyed = True
        self._closed = True

    # -- private --

    def _show_frustum(self, visible: bool) -> None:
        if visible and not self._frustum_shown:
            self._vis.add_geometry(self._frustum, reset_bounding_box=False)
        elif not visible and self._frustum_shown:
            self._vis.remove_geometry(self._frustum, reset_bounding_box=False)
        self._frustum_shown = visible

    def _add(self, geometry: o3d.geometry.Geometry) -> None:
        # The first geometry sets Open3D's bounding box and view; keep the chosen viewpoint after that.
        self._vis.add_geometry(geometry, reset_bounding_box=not self._view_set)
        if not self._view_set:
            self.set_viewpoint()

    def _new_mesh(
        self, vertices_m: npt.NDArray[np.float32], colors_rgb: npt.NDArray[np.float32]
    ) -> o3d.geometry.TriangleMesh:
        mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices_m.astype(np.float64)), self._triangles)
        mesh.vertex_colors = o3d.utility.Vector3dVector(colors_rgb.astype(np.float64))
        mesh.compute_vertex_normals()
        return mesh


def _line_set(
    points_m: npt.NDArray[np.float64], lines: npt.NDArray[np.int32], rgb: tuple[float, ...]
) -> o3d.geometry.LineSet:
    line_set = o3d.geometry.LineSet(o3d.utility.Vector3dVector(points_m), o3d.utility.Vector2iVector(lines))
    line_set.paint_uniform_color(rgb)
    return line_set
