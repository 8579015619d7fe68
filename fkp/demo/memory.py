"""Memory given back to the system after each request (glibc's malloc_trim), so that a server that has
read one large photo does not keep its peak for good. Does nothing where glibc is absent."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """glibc, set up on first use with a fixed mmap threshold; None elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return None
    # A fixed mmap threshold: buffers over 1 MB (photos, pyramids, windows) get their own mappings,
    # which go back to the system when freed. glibc's default threshold rises after the first large
    # free, and later photos then fragment the heap, which is never given back.
    libc.mallopt(-3, 2**20)  # M_MMAP_THRESHOLD
    return libc


def release_memory() -> None:
    """Give freed heap memory back to the system, after each photo."""
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)
