"""Body models: the ``BodyModel`` protocol (``base``), Anny (``anny_body.AnnyBody``), MediaPipe landmarks
(``landmarks``) and rotation conversions (``rotations``). Anny's world frame is z-up, the body faces -y, metres.

Kept import-free so that light modules (``rotations``) load without Anny, scipy.optimize or the landmark file.
"""
