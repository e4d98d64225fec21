"""The rank/world contract in one process: the share of a step, the no-op world
of one, dropout keys, start-up facts, the watchdog's probe, the launch command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import mlx.core as mx
import pytest

from kazft.errors import KazftError
from kazft.train import launch
from kazft.train.watchdog import EXIT_PEER_LOST, Watchdog
from kazft.train.world import World, dropout_seed, share


@pytest.mark.parametrize("accum,size", [(4, 2), (3, 2), (1, 2), (8, 3), (5, 1)])
def test_shares_cover_each_micro_batch_exactly_once_in_order(accum: int, size: int) -> None:
    got = [j for r in range(size) for j in share(accum, r, size)]
    assert got == list(range(accum))
    lengths = [len(share(accum, r, size)) for r in range(size)]
    assert max(lengths) - min(lengths) <= 1


def test_world_of_one_is_the_identity() -> None:
    w = World()
    grads = {"a": mx.array([1.0, 2.0])}
    out, loss, stops = w.reduce_step(grads, 3.5, None, 1, grads)
    assert out is grads and loss == 3.5 and stops == {}
    assert w.sum_counts([4, 5, 6], 1) == [4, 5, 6]
    assert w.broadcast_ints([7, 8], "x") == [7, 8]
    w.check_same({"kazft version": "0"})  # nothing to compare with
    assert w.main and list(w.share(4)) == [0, 1, 2, 3]


def test_dropout_seed_is_a_pure_function_of_seed_and_index() -> None:
    assert dropout_seed(0, 5) == dropout_seed(0, 5)
    seeds = {dropout_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300 and all(0 <= s < 2**64 for s in seeds)


def test_probe_tells_a_gone_rank_from_a_stuck_one() -> None:
    dog = Watchdog(0, [["127.0.0.1:1"], ["127.0.0.1:2"], ["127.0.0.1:3"]])
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(1)  # never accepted, as a rank blocked in MLX
    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))
    gone_port = gone.getsockname()[1]
    gone.close()
    try:
        dog.peers = [dog.port, stuck.getsockname()[1], gone_port]
        found = dog.probe()
    finally:
        dog.stop()
        stuck.close()
    assert found[0].startswith("rank 1 is running but not responding")
    assert found[1].startswith("rank 2 is gone") and f"127.0.0.1:{gone_port}" in found[1]


def test_watchdog_ends_a_stuck_process_with_the_message(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import time
        from kazft.train.watchdog import Watchdog
        dog = Watchdog(0, [["127.0.0.1:1"]], lambda: "run/checkpoints/step-000004")
        with dog.waiting("the gradient all-reduce of step 5", 0.5):
            time.sleep(30)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == EXIT_PEER_LOST
    assert "no answer from the other ranks within 0.5 s" in out.stderr
    assert "the gradient all-reduce of step 5" in out.stderr
    assert "run/checkpoints/step-000004" in out.stderr and "--resume latest" in out.stderr


def test_hostfile_needs_ip_addresses(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.json"
    bad.write_text(json.dumps([{"ssh": "mac1.local"}, {"ssh": "mac2.local"}]))
    with pytest.raises(KazftError, match=r"host 0 \(mac1.local\) has no \"ips\".*not host name"):
        launch.read_hostfile(str(bad))
    bad.write_text(json.dumps([{"ssh": "m1", "ips": ["mac1.local"]}]))
    with pytest.raises(KazftError, match="not an IPv4 address"):
        launch.read_hostfile(str(bad))
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps([{"ssh": "m1", "ips": ["10.0.0.1"]}, {"ssh": "m2", "ips": ["10.0.0.2"]}])
    )
    assert len(launch.read_hostfile(str(good))) == 2


def test_launch_command_runs_python_itself_on_free_ports() -> None:
    cmd = launch.launch_command(
        ["r.yaml", "--resume", "latest"], processes=2, hostfile=None, port=None
    )
    sep = cmd.index("--")
    # mlx >= 0.32 no longer prepends python: kazft names the interpreter.
    assert cmd[sep + 1 :] == [
        sys.executable,
        "-m",
        "kazft",
        "train",
        "r.yaml",
        "--resume",
        "latest",
    ]
    assert cmd[cmd.index("--backend") + 1] == "ring" and cmd[cmd.index("-n") + 1] == "2"
    port = int(cmd[cmd.index("--starting-port") + 1])
    for p in (port, port + 1):
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    hosts = launch.launch_command(["r.yaml"], processes=None, hostfile="h.json", port=40000)
    assert hosts[hosts.index("--hostfile") + 1] == "h.json" and "40000" in hosts


def test_connect_failure_names_the_address_and_what_to_check(tmp_path: Path) -> None:
    # Rank 0 of 2 whose rank 1 never comes: the ring waits for ever; the watchdog
    # ends it after the connect timeout, naming the addresses and what to check.
    hostfile = tmp_path / "ring.json"
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        addrs = [f"127.0.0.1:{a.getsockname()[1]}", f"127.0.0.1:{b.getsockname()[1]}"]
    hostfile.write_text(json.dumps([[addrs[0]], [addrs[1]]]))
    script = "from kazft.train.world import join\njoin(connect_timeout=2)\n"
    env = {**os.environ, "MLX_RANK": "0", "MLX_HOSTFILE": str(hostfile)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == -9  # mx.distributed.init holds the GIL: killed by the watcher
    assert "rank 0: error: the other ranks did not connect within 2 s" in out.stderr
    assert f"rank 0 listens on {addrs[0]} and connects to rank 1 at {addrs[1]}" in out.stderr
    assert "firewall" in out.stderr and "IP addresses, not host names" in out.stderr


RANKS_SCRIPT = textwrap.dedent(
    """
    import math, sys
    import mlx.core as mx
    from kazft.errors import KazftError
    from kazft.train.world import join

    w = join(step_timeout=60)
    r = w.rank
    assert w.size == 2
    assert w.sum_counts([3 + r, 10], 1) == [7, 20]
    like = {"a": mx.zeros((2, 3)), "b": [mx.zeros((4,), mx.bfloat16)]}
    mine = {"a": mx.full((2, 3), r + 1.0), "b": [mx.full((4,), 0.5, mx.bfloat16)]}
    # rank 1 computed no micro-batch: it sends zeros; rank 1 was asked to stop
    g, loss, stops = w.reduce_step(mine if r == 0 else None, 2.5 + r, "SIGINT" if r else None, 1, like)
    assert g["a"].tolist() == [[1.0] * 3] * 2 and g["b"][0].dtype == mx.bfloat16
    assert loss == 6.0 and stops == {1: "SIGINT"}, (loss, stops)
    # a NaN on one rank is a NaN on every rank
    _, loss, stops = w.reduce_step(mine, math.nan if r else 1.0, None, 2, like)
    assert math.isnan(loss) and stops == {}
    got = w.broadcast_tree({"x": mx.full((3,), 7.0 + r)}, "test")
    assert got["x"].tolist() == [7.0] * 3
    assert w.broadcast_ints([5 + r, 2**40], "test") == [5, 2**40]
    w.check_same({"kazft version": "0.1.0", "recipe (sha256)": "same"})
    try:
        w.check_same({"kazft version": "0.1.0" if r == 0 else "0.0.9", "recipe (sha256)": "same"})
    except KazftError as err:
        print(f"REFUSED {r}: {err}", flush=True)
    print(f"OK {r}", flush=True)
    """
)


def test_two_ranks_sum_gradients_stops_nan_and_refuse_a_difference(tmp_path: Path) -> None:
    script = tmp_path / "ranks.py"
    script.write_text(RANKS_SCRIPT, encoding="utf-8")
    cmd = launch.launch_command([], processes=2, hostfile=None, port=None)
    cmd = cmd[: cmd.index("--") + 1] + [sys.executable, str(script)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    text = out.stdout + out.stderr
    assert "OK 0" in text and "OK 1" in text, text
    for r in (0, 1):
        assert f"REFUSED {r}: the 2 ranks are not running the same thing" in text
    assert "kazft version differs (rank 0: 0.1.0, rank 1: 0.0.9)" in text
    assert "recipe (sha256) differs" not in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_calm_launcher_lowers_the_launcher_but_not_its_ranks():
    """mlx.launch's relay loop spins; once the ranks are forked its threads get nice 19,
    and the ranks keep nice 0."""
    from kazft.train.launch import calm_launcher, expected_ranks

    assert expected_ranks(["mlx.launch", "--hosts", "127.0.0.1", "-n", "3", "--", "x"]) == 3
    code = (
        "import subprocess, sys, threading, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(20)']) for _ in range(2)]\n"
        "threading.Thread(target=time.sleep, args=(20,), daemon=True).start()\n"
        "time.sleep(20)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        assert calm_launcher(parent.pid, 2, timeout=30)
        tids = [int(t.name) for t in Path(f"/proc/{parent.pid}/task").iterdir()]
        assert len(tids) >= 2 and all(os.getpriority(os.PRIO_PROCESS, t) == 19 for t in tids)
        kids = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True)
        pids = [int(p) for p in kids.stdout.split()]
        assert len(pids) == 2 and all(os.getpriority(os.PRIO_PROCESS, p) == 0 for p in pids)
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()
