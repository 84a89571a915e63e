from __future__ import annotations

import pytest

from mocap.body.anny_body import AnnyBody


@pytest.fixture(scope="session")
def body() -> AnnyBody:
    """Anny's default rig, built once per session (needs ANNY_CACHE_DIR filled; ~1 s when it is)."""
    return AnnyBody("default")
