"""``kazft train RECIPE -n N`` and ``--hosts hosts.json``: start the ranks with mlx.launch.

kazft builds the ``mlx.launch`` command (ring backend, the hostfile or N local
processes, a free port range for local runs) and runs it; every rank then runs
``python -m kazft train RECIPE ...`` with the same arguments, minus the launch
options. Since mlx 0.32, mlx.launch no longer puts ``python`` in front of the
command, so kazft passes this interpreter's path itself (the same path must
exist on every host).

Ctrl-C: mlx.launch does not pass signals on to the ranks, so kazft starts it in
its own process group with SIGINT ignored (the ranks install their own
handlers) and forwards Ctrl-C or SIGTERM to that group as SIGINT: local ranks
finish the step and agree to stop with the others, rank 0 saves once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kazft.errors import KazftError

# mlx.launch's own line for a rank that ended badly ("killed" has no code: 137).
_RANK_EXIT = re.compile(r"Node with rank (\d+) exited with code (-?\d+)")
# Environment worth passing to ranks on other hosts (local ranks inherit everything).
FORWARD_ENV = ("PYTHONPATH", "KAZFT_HOME", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE")


def read_hostfile(path: str) -> list[dict[str, Any]]:
    """The hosts of an mlx.launch hostfile, checked for what the ring backend needs."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise KazftError(f"--hosts {path}: cannot read it ({err.strerror})") from None
    except ValueError as err:
        raise KazftError(f"--hosts {path}: not valid JSON ({err})") from None
    hosts = data.get("hosts") if isinstance(data, dict) else data
    if not isinstance(hosts, list) or not hosts:
        raise KazftError(
            f'--hosts {path}: expected a list of hosts such as [{{"ssh": "mac1", "ips": '
            '["192.168.1.10"]}, ...] (docs/distributed.md)'
        )
    for i, h in enumerate(hosts):
        if not isinstance(h, dict) or "ssh" not in h:
            raise KazftError(f'--hosts {path}: host {i} has no "ssh" name')
        ips = h.get("ips") or []
        if not ips:
            raise KazftError(
                f'--hosts {path}: host {i} ({h["ssh"]}) has no "ips": the ring backend '
                "connects by IP address, not host name (on the Mac: System Settings > "
                "Network, or `ipconfig getifaddr en0`; a Thunderbolt bridge has its own)"
            )
        for ip in ips:
            try:
                socket.inet_aton(ip)
            except OSError:
                raise KazftError(
                    f"--hosts {path}: host {i}: {ip!r} is not an IPv4 address (the ring "
                    "backend wants IP addresses, not host names)"
                ) from None
    return hosts


def free_port_range(n: int, tries: int = 50) -> int:
    """A port p such that p .. p + n - 1 are free on 127.0.0.1 now."""
    rng = random.Random()
    for _ in range(tries):
        start = rng.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(start, start + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return start
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise KazftError(f"could not find {n} free consecutive ports on 127.0.0.1")


def launch_command(
    rank_args: Sequence[str],
    *,
    processes: int | None,
    hostfile: str | None,
    port: int | None,
    python: str = sys.executable,
) -> list[str]:
    """The mlx.launch command line that runs ``python -m kazft train <rank_args>`` on each rank."""
    launcher = shutil.which("mlx.launch") or str(Path(python).with_name("mlx.launch"))
    cmd = [launcher, "--backend", "ring"]
    # The ranks print the command that resumes: with the same launch options.
    how = ["--hosts", hostfile] if hostfile else ["-n", str(processes or 1)]
    cmd += [f"--env=KAZFT_LAUNCH={shlex.join(how)}"]
    if hostfile:
        cmd += ["--hostfile", hostfile]
        if port is not None:
            cmd += ["--starting-port", str(port)]
        # Other hosts start from a login shell: pass on what locates kazft and its caches.
        cmd += [f"--env={k}={os.environ[k]}" for k in FORWARD_ENV if k in os.environ]
        cmd += ["--cwd", os.getcwd()]
    else:
        n = processes or 1
        cmd += ["--hosts", "127.0.0.1", "-n", str(n)]
        cmd += ["--starting-port", str(port if port is not None else free_port_range(n))]
    return [*cmd, "--", python, "-m", "kazft", "train", *rank_args]


def expected_ranks(cmd: Sequence[str]) -> int:
    """How many rank processes the mlx.launch command ``cmd`` starts."""
    if "-n" in cmd:
        return int(cmd[list(cmd).index("-n") + 1])
    if "--hostfile" in cmd:
        return len(read_hostfile(cmd[list(cmd).index("--hostfile") + 1]))
    return 1


def _children(pid: int) -> int:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return len(out.stdout.split())


def calm_launcher(pid: int, ranks: int, timeout: float = 120.0) -> bool:
    """Give mlx.launch's own threads the lowest CPU priority once its ranks are running.

    mlx.launch relays each rank's output in a loop that never sleeps (it waits on the
    rank's stdin pipe, which is always writable), so the launcher keeps a core busy.
    On a two-core machine that core is taken from the ranks: measured here, each
    rank's matrix products ran 1.7x slower beside it. Lowered after the ranks were
    forked, the launcher runs when a core is idle and the ranks keep their priority.
    Returns whether it was lowered."""
    deadline = time.monotonic() + timeout
    while _children(pid) < ranks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    task = Path(f"/proc/{pid}/task")  # Linux: priority is per thread
    ids = [int(t.name) for t in task.iterdir()] if task.is_dir() else [pid]
    lowered = False
    for tid in ids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, tid, 19)
            lowered = True
    return lowered


def run_launcher(cmd: Sequence[str]) -> int:
    """Run mlx.launch; forward Ctrl-C / SIGTERM to the ranks as SIGINT; its exit code."""

    def child_setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    try:
        proc = subprocess.Popen(
            list(cmd), start_new_session=True, preexec_fn=child_setup, stderr=subprocess.PIPE
        )
    except OSError as err:
        raise KazftError(f"could not start {cmd[0]} ({err.strerror}); is mlx installed?") from None
    threading.Thread(
        target=calm_launcher, args=(proc.pid, expected_ranks(cmd)), daemon=True
    ).start()
    seen = [0]

    def forward(signum: int, frame: Any) -> None:
        seen[0] += 1
        sig = signal.SIGINT if seen[0] == 1 else signal.SIGKILL
        if seen[0] == 1:
            print(
                f"\n{signal.Signals(signum).name}: asking every rank to finish the step, save "
                "and stop (again: kill them at once)",
                file=sys.stderr,
                flush=True,
            )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    codes: list[int] = []  # in the order the ranks ended
    try:
        assert proc.stderr is not None
        for raw in proc.stderr:
            sys.stderr.buffer.write(raw)
            sys.stderr.buffer.flush()
            m = _RANK_EXIT.search(raw.decode(errors="replace"))
            if m:
                code = int(m.group(2))
                codes.append(128 - code if code < 0 else code)
        proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    # mlx.launch itself exits 0 whatever its ranks did: report the first rank that
    # failed (it ended first; mlx.launch then terminates the others).
    return codes[0] if codes else proc.returncode
