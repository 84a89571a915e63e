"""Headless rendering of shaded bodies with open3d's legacy ``Visualizer`` (EGL offscreen, no display needed).

One :class:`Renderer` draws a frame in two kinds of pass:

- the *colour pass*: every person and the floor, lit and shaded, composited over a gradient
  background where nothing was drawn;
- one *depth pass per person*, in a second offscreen window that holds only that person:
  its z-depth in metres per pixel. The silhouettes and the occlusion tests of the ground
  truth come from these depth maps, so they are exact for the same rasteriser.

Pixel convention: our intrinsics put the principal point of a W x H image at (W/2, H/2)
(pixel corners at integers, see :mod:`mocap.synth.camera`); open3d puts pixel centres at
integers and wants ``cx = W/2 - 0.5``, so we shift by half a pixel when handing K over. Open3D
cannot render an off-centre principal point, so the renderer refuses one.

Example:
    >>> with Renderer((320, 240), faces) as renderer:  # doctest: +SKIP
    ...     frame = renderer.render(vertices_world_m, colors, K, R, t)
    >>> frame.image_rgb.shape, frame.depth_m.shape  # doctest: +SKIP
    ((240, 320, 3), (1, 240, 320))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from mocap.errors import ConfigError
from mocap.synth.camera import camera_centres, floor_mask
from mocap.synth.scene import Backdrop, Lighting, background_image, floor_mesh, shade

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

Z_NEAR_M = 0.05
Z_FAR_M = 200.0


@dataclass(frozen=True)
class Rendering:
    """One rendered frame.

    Attributes:
        image_rgb: (H, W, 3) uint8 shaded image (people, floor, background).
        depth_m: (P, H, W) float32 camera z-depth of each person rendered alone, 0 where it covers nothing.
    """

    image_rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]

    @property
    def silhouettes(self) -> npt.NDArray[np.bool_]:
        """(P, H, W) True where each person covers the pixel."""
        return self.depth_m > 0

    def nearest_depth_m(self) -> npt.NDArray[np.float32]:
        """(H, W) depth of the nearest person at each pixel, +inf where nobody is."""
        depth = np.where(self.depth_m > 0, self.depth_m, np.inf)
        return depth.min(axis=0) if len(depth) else np.full(self.image_rgb.shape[:2], np.inf, np.float32)


def _open3d() -> Any:
    import open3d as o3d

    return o3d


def _offscreen_window(size_wh: tuple[int, int]) -> Any:
    o3d = _open3d()
    vis = o3d.visualization.Visualizer()
    if not vis.create_window(width=size_wh[0], height=size_wh[1], visible=False):
        raise ConfigError(
            "open3d could not open an offscreen window; install Mesa's EGL (libegl1, libgl1-mesa-dri) "
            "or run with a display"
        )
    options = vis.get_render_option()
    options.background_color = np.zeros(3)
    options.light_on = False  # shading is baked into vertex colours (scene.shade): same look on every machine
    return vis


class Renderer:
    """Renders posed triangle meshes of people over a floor, with per-person depth maps.

    Args:
        size_wh: image (width, height) in pixels.
        faces: (F, 3) triangle vertex indices shared by every person (Anny's topology).
        backdrop: floor and background look.
        lighting: how the people are shaded.
    """

    def __init__(
        self,
        size_wh: tuple[int, int],
        faces: npt.NDArray[np.integer],
        backdrop: Backdrop | None = None,
        lighting: Lighting | None = None,
    ):
        o3d = _open3d()
        self.size_wh = size_wh
        self._backdrop = backdrop or Backdrop()
        self._lighting = lighting or Lighting()
        self._background = background_image(self._backdrop, size_wh)  # (H, W, 3) float32
        self._triangles = o3d.utility.Vector3iVector(np.asarray(faces, np.int32))
        self._scene = _offscreen_window(size_wh)
        self._solo = _offscreen_window(size_wh)
        floor_v, floor_f, floor_rgb = floor_mesh(self._backdrop)
        floor = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(floor_v), o3d.utility.Vector3iVector(floor_f))
        floor.vertex_colors = o3d.utility.Vector3dVector(floor_rgb)
        floor.compute_vertex_normals()
        self._scene.add_geometry(floor)
        self._people: list[Any] = []
        self._solo_mesh = self._new_mesh()
        self._solo_has_mesh = False

    def _new_mesh(self) -> Any:
        o3d = _open3d()
        mesh = o3d.geometry.TriangleMesh()
        mesh.triangles = self._triangles
        return mesh

    def _set_camera(self, vis: Any, intrinsics: FloatArray, rotation: FloatArray, translation_m: FloatArray) -> None:
        o3d = _open3d()
        width, height = self.size_wh
        # Our K has corner-origin pixels (cx = W/2); open3d's has centre-origin pixels (cx = W/2 - 0.5).
        k_open3d = intrinsics - np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
        params = o3d.camera.PinholeCameraParameters()
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(width, height, k_open3d)
        extrinsic = np.eye(4)
        extrinsic[:3, :3], extrinsic[:3, 3] = rotation, translation_m
        params.extrinsic = extrinsic
        control = vis.get_view_control()
        if not control.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            raise ConfigError("open3d refused the camera parameters; check that K is a valid pinhole matrix")
        control.set_constant_z_near(Z_NEAR_M)
        control.set_constant_z_far(Z_FAR_M)

    def _check_intrinsics(self, intrinsics: FloatArray) -> None:
        width, height = self.size_wh
        centred = np.allclose(intrinsics[:2, 2], [width / 2, height / 2]) and np.isclose(
            intrinsics[0, 0], intrinsics[1, 1]
        )
        if not centred:
            raise ConfigError(
                f"the renderer needs square pixels and a centred principal point ({width / 2}, {height / 2}), "
                f"but got K = {intrinsics.tolist()}; build K with mocap.synth.camera.intrinsics_from_fov"
            )

    def _sync_people(self, count: int) -> None:
        while len(self._people) < count:
            mesh = self._new_mesh()
            self._people.append(mesh)
            self._scene.add_geometry(mesh, reset_bounding_box=False)
        while len(self._people) > count:
            self._scene.remove_geometry(self._people.pop(), reset_bounding_box=False)

    def render(
        self,
        vertices_world_m: FloatArray,
        vertex_rgb: FloatArray,
        intrinsics: FloatArray,
        rotation: FloatArray,
        translation_m: FloatArray,
    ) -> Rendering:
        """Render one frame.

        Args:
            vertices_world_m: (P, V, 3) posed vertices of P people in world metres (P may be 0).
            vertex_rgb: (P, V, 3) colours in [0, 1].
            intrinsics: (3, 3) K with a centred principal point.
            rotation: (3, 3) world -> camera rotation.
            translation_m: (3,) world -> camera translation.
        """
        o3d = _open3d()
        self._check_intrinsics(intrinsics)
        self._sync_people(len(vertices_world_m))
        eye_world_m = camera_centres(rotation[None], translation_m[None])[0]
        for mesh, vertices, rgb in zip(self._people, vertices_world_m, vertex_rgb, strict=True):
            vertices = np.asarray(vertices, np.float64)
            mesh.vertices = o3d.utility.Vector3dVector(vertices)
            mesh.compute_vertex_normals()
            toward_camera = eye_world_m - vertices
            toward_camera /= np.linalg.norm(toward_camera, axis=-1, keepdims=True)
            shaded = shade(np.asarray(rgb, np.float64), np.asarray(mesh.vertex_normals), toward_camera, self._lighting)
            mesh.vertex_colors = o3d.utility.Vector3dVector(shaded)
            self._scene.update_geometry(mesh)
        self._set_camera(self._scene, intrinsics, rotation, translation_m)
        color = np.asarray(self._scene.capture_screen_float_buffer(do_render=True))  # (H, W, 3) in [0, 1]
        depth = [self._solo_depth(vertices, intrinsics, rotation, translation_m) for vertices in vertices_world_m]
        width, height = self.size_wh
        depth_m = np.stack(depth) if depth else np.zeros((0, height, width), np.float32)
        # Background = pixels that neither a person nor the floor covers. The floor's coverage is computed
        # from the rays (a second full render just for the scene's depth would cost as much as the colour).
        drawn = floor_mask(intrinsics, rotation, translation_m, self.size_wh, self._backdrop.floor_size_m / 2)
        drawn |= (depth_m > 0).any(axis=0)
        color = np.where(drawn[..., None], color, self._background)
        image_rgb = np.clip(np.round(color * 255.0), 0, 255).astype(np.uint8)
        return Rendering(image_rgb=image_rgb, depth_m=depth_m)

    def _solo_depth(
        self, vertices_world_m: FloatArray, intrinsics: FloatArray, rotation: FloatArray, translation_m: FloatArray
    ) -> npt.NDArray[np.float32]:
        o3d = _open3d()
        self._solo_mesh.vertices = o3d.utility.Vector3dVector(np.asarray(vertices_world_m, np.float64))
        if self._solo_has_mesh:
            self._solo.update_geometry(self._solo_mesh)
        else:
            # The first geometry of a window must reset the bounding box, or open3d draws nothing.
            self._solo.add_geometry(self._solo_mesh)
            self._solo_has_mesh = True
        self._set_camera(self._solo, intrinsics, rotation, translation_m)
        return np.asarray(self._solo.capture_depth_float_buffer(do_render=True), np.float32).copy()

    def close(self) -> None:
        """Release both offscreen windows."""
        self._scene.destroy_window()
        self._solo.destroy_window()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
