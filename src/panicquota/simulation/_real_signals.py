"""Signal handling of the real run's parent: SIGTERM cleans up, Ctrl-C is the parent's."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

__all__ = ["exit_on_sigterm", "signal_handled"]


@contextlib.contextmanager
def signal_handled(signum: int, handler: Any) -> Iterator[None]:
    """Handle *signum* with *handler* for the block, then restore the previous handler.

    Used twice: SIGTERM becomes ``SystemExit`` so that the run's cleanup
    runs, and SIGINT is ignored while the workers start, so that they ignore
    it from their first instruction (an ignored signal stays ignored in a
    child; Ctrl-C is the parent's to handle).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and receives signals)
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)


def exit_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    # One is enough: a second SIGTERM must not cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)
