"""Overlay videos: the meshes of a run store shaded over the source frames (``mocap render``).

:mod:`mocap.render.composite` is plain numpy/OpenCV (masks, blending, labels);
:mod:`mocap.render.overlay` draws with the 3D viewer (Open3D, the ``render`` extra).
"""
