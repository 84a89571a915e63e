"""Mocap data: BVH (``bvh``) and ASF/AMC (``asf_amc``) readers into ``skeleton.Motion``, retargeting onto
Anny's default rig (``retarget``), the fixed subject splits (``splits``) and the cached motion dataset with
training samplers (``dataset``; built by ``mocap data build``).

Kept import-free so that ``mocap.motion.splits`` loads without torch.
"""
