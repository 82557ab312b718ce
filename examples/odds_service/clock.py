"""A clock every process of the load test shares: wall time plus an offset kept in a file.

The load test compresses time by moving the offset (a panic's first half
hour passes in an instant); every uvicorn worker and the driver map the same
eight bytes, so they read the same time without a system call.
"""

from __future__ import annotations

import mmap
import os
import struct
import time

_FORMAT = "d"
_SIZE = struct.calcsize(_FORMAT)


class FileClock:
    """Epoch seconds: ``time.time()`` plus the offset stored in *path* (created at 0)."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)

    def __call__(self) -> float:
        offset: float = struct.unpack_from(_FORMAT, self._map)[0]
        return time.time() + offset

    @property
    def offset(self) -> float:
        """Seconds this clock runs ahead of the wall clock."""
        value: float = struct.unpack_from(_FORMAT, self._map)[0]
        return value

    def jump(self, seconds: float) -> None:
        """Move every process's clock *seconds* forward."""
        struct.pack_into(_FORMAT, self._map, 0, self.offset + seconds)

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()
