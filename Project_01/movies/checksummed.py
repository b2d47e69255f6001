"""Cache files that prove they are intact: a header with the payload's length and CRC-32.

A bad disk or a stray write can flip a byte of a cached index. Unpickled, such a file may load
silently and answer with different scores, or end in a traceback far from the cause. Every cache
file therefore starts with ``MAGIC``, the payload's length and its CRC-32 (which catches every
error confined to 32 bits in a row, so any single damaged byte, with certainty), and is checked
in full before a byte of it is unpickled or parsed. Checking costs one pass over the file at
several GB/s.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from movies.errors import DamagedFileError
from movies.files import atomic_write

MAGIC = b"MOVIES\x01\n"  # the format's name and version
HEADER = struct.Struct(f">{len(MAGIC)}sQI")  # magic, payload length, CRC-32 of the payload
CHUNK = 1 << 20
T = TypeVar("T")


class _Summing:
    """A write-only stream that counts and checksums what passes through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.length, self.crc = stream, 0, 0

    def write(self, data: Any) -> int:
        """Write ``data`` (bytes, or a buffer: pickle hands large arrays over as such) on."""
        view = memoryview(data)
        self.length += view.nbytes
        self.crc = zlib.crc32(view, self.crc)
        return self.stream.write(view)


def write_checksummed(path: Path, write: Callable[[Any], object]) -> None:
    """Write ``path`` atomically: ``write(stream)`` writes the payload, this adds the header.

    Raises:
        FileWriteError: the file cannot be written; ``path`` keeps its previous content.
    """
    with atomic_write(path) as stream:
        stream.write(HEADER.pack(MAGIC, 0, 0))
        summing = _Summing(stream)
        write(summing)
        stream.seek(0)
        stream.write(HEADER.pack(MAGIC, summing.length, summing.crc))


def read_checksummed(path: Path, read: Callable[[IO[bytes]], T]) -> T:
    """Check ``path`` against its header, then return ``read(stream)`` over its payload.

    Raises:
        DamagedFileError: the header is missing or does not match the payload.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as stream:
        header = stream.read(HEADER.size)
        if len(header) != HEADER.size or header[:len(MAGIC)] != MAGIC:
            raise DamagedFileError(f"{path.name} has no valid header: it was damaged, or "
                                   "written by other code")
        _, length, expected = HEADER.unpack(header)
        crc, seen = 0, 0
        while chunk := stream.read(CHUNK):
            crc, seen = zlib.crc32(chunk, crc), seen + len(chunk)
        if (seen, crc) != (length, expected):
            raise DamagedFileError(f"{path.name} does not match its checksum: it was damaged "
                                   "after it was written")
        stream.seek(HEADER.size)
        return read(stream)
