"""The 3D viewer: replay, follow and save renders of run stores, and a live capture sink.

Open3D (the ``render`` extra) is imported only by :mod:`mocap.view.viewer` and the modules that
draw (``replay``, ``store_frames``, the sink's viewer process); :mod:`mocap.view.scene` and
:mod:`mocap.view.config` are plain numpy/dataclasses. See ``viewers/README.md``.
"""
