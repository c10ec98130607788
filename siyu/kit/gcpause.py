"""Python's cyclic collector paused around bulk allocation that creates no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off inside, back as it was after.

    Allocating tens of thousands of tuples, dicts or sets triggers collections that walk
    the whole heap again and again, for cycles such data does not have.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
