"""One zarr v3 store per run: :class:`StoreWriter` appends, :func:`open_store` reads.

The layout, the commit protocol and the schema version live in :mod:`mocap.io.store.layout`.
"""

from mocap.io.store.layout import (
    FRAME_FIELDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    STATUSES,
    TRACK_BASE_FIELDS,
    chunk_rows,
    disk_bytes,
    is_store,
    missing_value,
    to_json,
)
from mocap.io.store.reader import RunStore, TrackData, open_store
from mocap.io.store.writer import StoreWriter, replace_track_field

__all__ = [
    "FRAME_FIELDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATUSES",
    "TRACK_BASE_FIELDS",
    "RunStore",
    "StoreWriter",
    "TrackData",
    "chunk_rows",
    "disk_bytes",
    "is_store",
    "missing_value",
    "open_store",
    "replace_track_field",
    "to_json",
]
