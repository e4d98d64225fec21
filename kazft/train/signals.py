"""Ctrl-C and SIGTERM: finish the step, save, then stop.

``StopFlag`` installs handlers for SIGINT and SIGTERM that only set a flag; the
training loop checks it after each optimiser step, writes a checkpoint and
raises ``Interrupted`` with the command that resumes. A second Ctrl-C while
the first is being honoured quits at once (``KeyboardInterrupt``); checkpoints
are written atomically, so even that never damages the last one.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any


class StopFlag:
    """A stop request, set by a signal or by code (``request``)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        self.reason = reason

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: quit now
        self.request(name)
        print(
            f"\n{name} received: finishing this step and saving a checkpoint "
            "(Ctrl-C again quits without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> StopFlag:
        # Signal handlers can only be installed from the main thread; elsewhere
        # (a test runner's worker thread) the flag still works through request().
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
