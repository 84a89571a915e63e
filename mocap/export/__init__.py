"""Export tracked people for animators and scripts.

:mod:`~mocap.export.track` reads a store's track (stored body parameters, or meshes fitted with
:mod:`mocap.body.fit`) with gaps interpolated; :mod:`~mocap.export.motion` moves it into a Y-up
world on the floor and onto a rig (Anny's own or ``cmu_mb`` / ``mixamo`` / ``game_engine``);
:mod:`~mocap.export.writers` writes BVH and npz.
"""
