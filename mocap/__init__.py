"""mocap: motion capture from ordinary video.

A video or webcam goes in; tracked 3D human meshes with per-vertex uncertainty
come out, stored in zarr. See README.md for the tour and DESIGN.md for the parts.
"""

from mocap.errors import MocapError, MocapWarning
from mocap.types import Detections, Frame, FrameResult, Tracks, TrackState

__version__ = "0.1.0"

__all__ = ["Detections", "Frame", "FrameResult", "MocapError", "MocapWarning", "TrackState", "Tracks", "__version__"]
