"""No hang when a rank drops out: a watchdog over every collective wait.

MLX's ring all-reduce raises when a peer's socket closes (a process killed with
``kill -9``), but blocks for ever when a machine vanishes without closing it
(power, Wi-Fi, sleep) or when the backend itself deadlocks. So each rank runs a
small daemon thread: the main thread announces each wait with a deadline
(:meth:`Watchdog.waiting`); if the deadline passes, or the wait raises, the
rank probes the others and exits the process at once (``os._exit``: the main
thread is stuck inside MLX and cannot be unwound) with code
:data:`EXIT_PEER_LOST` and one paragraph that names the missing rank and the
last checkpoint.

Naming the missing rank: every rank listens on a TCP "liveness" port (its ring
IP, a port the OS picks, exchanged at start-up). A probe that is refused means
the process is gone; one that times out means the host is unreachable; one
that connects means the rank is alive but stuck. The kernel accepts the
connection on its own, so a rank busy computing still answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence

# The connect-phase watcher: waits for its stdin to close; past the deadline it
# prints the message and kills the rank it watches.
_WATCHER = """
import os, select, signal, sys
pid, timeout, msg = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if not ready:
    sys.stderr.write("\\n" + msg + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)
"""
# Exit code of a rank that gave up on the others (distinct from errors, 2, and Ctrl-C, 130).
EXIT_PEER_LOST = 3
PROBE_SECONDS = 2.0


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0] if ":" in address else address


class Watchdog:
    def __init__(
        self,
        rank: int,
        addresses: Sequence[Sequence[str]],
        last_checkpoint: Callable[[], str] | None = None,
    ) -> None:
        self.rank = rank
        self.hosts = [_host(a[0]) if a else "127.0.0.1" for a in addresses]
        self.last_checkpoint = last_checkpoint or (lambda: "unknown")
        self.peers: list[int] = []  # liveness port of each rank, once exchanged
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        mine = self.hosts[rank] if rank < len(self.hosts) else "127.0.0.1"
        try:
            self._sock.bind((mine, 0))
        except OSError:
            self._sock.bind(("0.0.0.0", 0))
        self._sock.listen(16)  # never accepted: the kernel completes the handshake
        self.port = int(self._sock.getsockname()[1])
        self._deadline: float | None = None
        self._what = ""
        self._advice = ""
        self._timeout = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kazft-watchdog", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def waiting(self, what: str, timeout: float, advice: str = "") -> Iterator[None]:
        """Wait for the other ranks for at most ``timeout`` seconds."""
        self._what, self._advice, self._timeout = what, advice, timeout
        self._deadline = time.monotonic() + timeout
        try:
            yield
        except RuntimeError as err:
            if "[ring]" not in str(err) and "connection" not in str(err).lower():
                raise
            self.fail(f"the connection to another rank was lost ({err})")
        finally:
            self._deadline = None

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                self.fail(f"no answer from the other ranks within {self._timeout:g} s")

    def probe(self) -> list[str]:
        """One finding per other rank: gone, unreachable or stuck."""
        found = []
        for r, port in enumerate(self.peers):
            if r == self.rank:
                continue
            where = f"{self.hosts[r]}:{port}"
            try:
                with socket.create_connection((self.hosts[r], port), timeout=PROBE_SECONDS):
                    found.append(f"rank {r} is running but not responding (it answered at {where})")
            except ConnectionRefusedError:
                found.append(f"rank {r} is gone (its process ended: nothing listens at {where})")
            except OSError:
                found.append(
                    f"rank {r} is unreachable (no answer at {where} in {PROBE_SECONDS:g} s: "
                    "the host is off, asleep or off the network)"
                )
        return found

    def fail(self, why: str) -> None:
        """Print what happened and end this process now, with EXIT_PEER_LOST."""
        findings = self.probe() if self.peers else []
        missing = [f for f in findings if "running but" not in f] or findings
        msg = (
            f"kazft: rank {self.rank}: error: {why} while waiting for {self._what}. "
            + ("; ".join(missing) + ". " if missing else "")
            + (self._advice + " " if self._advice else "")
            + f"The last checkpoint is {self.last_checkpoint()}; once every rank is back, "
            "continue with the same command and --resume latest (any number of ranks)."
        )
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.write("\n" + msg + "\n")
            sys.stderr.flush()
        os._exit(EXIT_PEER_LOST)

    @contextlib.contextmanager
    def connecting(self, timeout: float, advice: str) -> Iterator[None]:
        """Bound ``mx.distributed.init``, which holds the GIL while it waits for the
        other ranks (so the watchdog thread cannot run): a small watcher process
        prints the message and kills this one (SIGKILL) if the time passes."""
        msg = (
            f"kazft: rank {self.rank}: error: the other ranks did not connect within "
            f"{timeout:g} s. {advice}"
        )
        watcher = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, str(os.getpid()), f"{timeout}", msg],
            stdin=subprocess.PIPE,
        )
        try:
            yield
        finally:
            assert watcher.stdin is not None
            watcher.stdin.close()  # connected (or failed): the watcher exits quietly
            watcher.wait()

    def stop(self) -> None:
        self._done.set()
        self._deadline = None
        with contextlib.suppress(OSError):
            self._sock.close()
