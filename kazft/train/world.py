"""The ranks of a distributed run, and what they exchange each optimiser step.

A run started by ``mlx.launch`` (directly, or through ``kazft train -n N`` /
``--hosts``) has ``MLX_RANK`` in its environment; :func:`join` then connects
the ranks over ``mx.distributed`` and returns a :class:`World`. Without it the
world is one process and every method here is a no-op (or the identity), so
the trainer reads the same whatever the world size.

The contract, one optimiser step of ``grad_accum`` micro-batches:

* the recipe's batch is the *global* batch: rank ``r`` of ``N`` computes the
  micro-batches :func:`share` gives it (a contiguous block of the step's
  indices; any ``grad_accum`` works, a rank may get none);
* the trained-token counts are summed first (:meth:`World.sum_counts`), so
  every rank scales its micro-batch gradients by ``1 / N_step`` of the whole
  step; the scaled gradients and the loss sums are then summed in one
  all-reduce (:meth:`World.reduce_step`): the step's gradient is exactly that
  of the mean loss over all its trained tokens, as on one process;
* the same all-reduce carries every rank's stop request (Ctrl-C, SIGTERM), so
  all ranks see the same decision at the same step; a NaN on any rank makes
  the summed loss NaN on all of them, so they stop at the same step too.

Every collective waits under the :class:`~kazft.train.watchdog.Watchdog`, so a
rank that dies or hangs makes the others exit non-zero within the timeout,
naming it (``kazft.train.watchdog``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from kazft.errors import KazftError
from kazft.train.watchdog import Watchdog

# Default seconds a rank waits for the others in one step (compute, validation
# and rank 0's checkpoint included) before it gives up on them.
STEP_TIMEOUT = 900.0
# Start-up waits cover the slowest host's model load (and first quantisation).
STARTUP_TIMEOUT = 1800.0
CONNECT_TIMEOUT = 120.0
_STOP_CODES = {"SIGINT": 2, "SIGTERM": 15}


def share(grad_accum: int, rank: int, size: int) -> range:
    """Offsets (0 .. grad_accum - 1) of one step's micro-batches that ``rank`` computes.

    Contiguous blocks, the first ``grad_accum % size`` ranks one longer:
    share(4, r, 2) is [0, 1] and [2, 3]; share(3, r, 2) is [0, 1] and [2].
    """
    base, extra = divmod(grad_accum, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def launched() -> bool:
    """Whether this process is one rank of an ``mlx.launch`` (or MPI) run."""
    return "MLX_RANK" in os.environ or "OMPI_COMM_WORLD_SIZE" in os.environ


def ring_addresses() -> list[list[str]]:
    """Per rank, the ``ip:port`` addresses of the ring backend (from MLX_HOSTFILE)."""
    path = os.environ.get("MLX_HOSTFILE", "")
    try:
        text = Path(path).read_text(encoding="utf-8") if path else ""
        data = json.loads(text) if text.strip() else []
    except (OSError, ValueError):
        return []
    return [[str(a) for a in (r if isinstance(r, list) else [r])] for r in data]


def connect_advice(addresses: Sequence[Sequence[str]], rank: int) -> str:
    """What to check when the ranks do not reach each other."""
    n = len(addresses)
    mine = ", ".join(addresses[rank]) if rank < n else "?"
    peers = "; ".join(
        f"rank {r} at {', '.join(addresses[r])}"
        for r in ((rank - 1) % n, (rank + 1) % n)
        if r != rank
    )
    return (
        f"rank {rank} listens on {mine} and connects to {peers or 'its neighbours'}. Check: "
        "every host is on and runs the same command; the firewall lets these ports in (macOS: "
        "System Settings > Network > Firewall, or allow python); the hostfile gives IP "
        "addresses, not host names, that each host can reach (ping them); and every host has "
        "the same kazft, recipe and data at the same path."
    )


@dataclass
class World:
    """Rank ``rank`` of ``size``; ``group`` is None for a world of one."""

    rank: int = 0
    size: int = 1
    group: Any = None
    addresses: list[list[str]] = field(default_factory=list)
    watchdog: Watchdog | None = None
    step_timeout: float = STEP_TIMEOUT
    # Named when this rank gives up on the others (kazft.train.ranks.saver sets it).
    last_checkpoint: str = "none yet"

    @property
    def main(self) -> bool:
        """Rank 0 writes checkpoints, metrics, the plot and the progress display."""
        return self.rank == 0

    def share(self, grad_accum: int) -> range:
        return share(grad_accum, self.rank, self.size)

    def _sum(self, x: mx.array, what: str, timeout: float | None = None) -> mx.array:
        """all_sum of ``x`` over the ranks, evaluated under the watchdog."""
        assert self.watchdog is not None
        y = mx.distributed.all_sum(x, group=self.group, stream=mx.cpu)
        with self.watchdog.waiting(what, timeout or self.step_timeout):
            mx.eval(y)
        return y

    def sum_counts(self, counts: Sequence[int], step: int) -> list[int]:
        """Element-wise sum of integer counts (trained tokens, tokens, records)."""
        if self.size == 1:
            return list(counts)
        y = self._sum(mx.array(list(counts), mx.int64), f"the token counts of step {step}")
        return [int(v) for v in _values(y)]

    def barrier(self, what: str) -> None:
        """Wait until every rank gets here."""
        if self.size > 1:
            self._sum(mx.array([0], mx.int32), what)

    def reduce_step(
        self, grads: dict | None, loss_sum: float, stop_reason: str | None, step: int, like: Any
    ) -> tuple[dict, float, dict[int, str]]:
        """Sum the scaled gradients and loss sums; gather stop requests.

        ``grads`` is None on a rank that computed no micro-batch this step (it
        contributes zeros shaped like ``like``, the trainable parameters).
        Returns (summed gradients, summed loss sum, {rank: stop reason}).
        """
        if self.size == 1:
            stops = {0: stop_reason} if stop_reason else {}
            return grads if grads is not None else tree_zeros(like), loss_sum, stops
        flat = _flat(grads if grads is not None else tree_zeros(like))
        code = _STOP_CODES.get(stop_reason or "", 1) if stop_reason else 0
        flags = [0.0] * self.size
        flags[self.rank] = float(code)
        # One all-reduce for everything: [loss_sum, stop flag per rank, gradients...].
        head = mx.array([loss_sum, *flags], mx.float32)
        out = self._sum(
            mx.concatenate([head, _pack(flat)]), f"the gradient all-reduce of step {step}"
        )
        got = _values(out[: 1 + self.size])
        names = {v: k for k, v in _STOP_CODES.items()}
        stops = {r: names.get(int(c), "a stop request") for r, c in enumerate(got[1:]) if c}
        return _unpack(out, flat, 1 + self.size), float(got[0]), stops

    def broadcast_tree(self, tree: Any, what: str) -> Any:
        """Rank 0's values of ``tree`` (arrays) on every rank."""
        if self.size == 1:
            return tree
        flat = _flat(tree)
        if not flat:
            return tree
        vec = _pack(flat)
        if not self.main:
            vec = mx.zeros_like(vec)  # x + 0 + ... + 0 == x exactly
        return _unpack(self._sum(vec, what, STARTUP_TIMEOUT), flat)

    def broadcast_ints(self, values: Sequence[int], what: str) -> list[int]:
        if self.size == 1:
            return list(values)
        v = mx.array(list(values) if self.main else [0] * len(values), mx.int64)
        return [int(x) for x in _values(self._sum(v, what, STARTUP_TIMEOUT))]

    def check_same(self, facts: dict[str, str], what: str = "") -> None:
        """Refuse to start unless every rank has the same ``facts`` (name -> value),
        naming the ranks and values that differ."""
        if self.size == 1:
            return
        width = 64  # each fact travels as 64 bytes (a value, or its hash when longer)
        mine = [_fixed(v, width) for v in facts.values()]
        vec = mx.zeros((self.size, len(mine) * width), mx.int32)
        row = mx.array([b for m in mine for b in m], mx.int32)
        vec[self.rank] = row
        table = _values(self._sum(vec, f"the start-up check{what}", STARTUP_TIMEOUT))
        problems = []
        for i, name in enumerate(facts):
            seen = [
                bytes(table[r][i * width : (i + 1) * width]).rstrip(b"\0") for r in range(self.size)
            ]
            if len(set(seen)) > 1:
                each = ", ".join(
                    f"rank {r}: {s.decode(errors='replace')}" for r, s in enumerate(seen)
                )
                problems.append(f"  {name} differs ({each})")
        if problems:
            raise KazftError(
                f"the {self.size} ranks are not running the same thing, so the run is refused:\n"
                + "\n".join(problems)
                + "\nInstall the same kazft on every host, and copy the same recipe and data "
                "to the same path on each (recipe and data are compared by hash)."
            )

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()


def _flat(tree: Any) -> list[tuple[str, mx.array]]:
    return cast(list[tuple[str, mx.array]], tree_flatten(tree))


def _values(y: mx.array) -> list[Any]:
    return cast(list[Any], y.tolist())


def _pack(flat: list[tuple[str, mx.array]]) -> mx.array:
    """The leaves, as one float32 vector (float32 holds bfloat16/float16 exactly)."""
    return mx.concatenate([v.astype(mx.float32).reshape(-1) for _, v in flat])


def _unpack(vec: mx.array, flat: list[tuple[str, mx.array]], at: int = 0) -> Any:
    """The inverse of _pack from offset ``at``: a tree shaped and typed like ``flat``."""
    parts = []
    for k, v in flat:
        parts.append((k, vec[at : at + v.size].reshape(v.shape).astype(v.dtype)))
        at += v.size
    return tree_unflatten(parts)


def _fixed(value: str, width: int) -> list[int]:
    raw = value.encode()
    if len(raw) > width:
        raw = hashlib.sha256(raw).hexdigest()[:width].encode()
    return list(raw.ljust(width, b"\0"))


def tree_zeros(tree: Any) -> Any:
    return tree_unflatten([(k, mx.zeros_like(v)) for k, v in _flat(tree)])


def join(step_timeout: float | None = None, connect_timeout: float = CONNECT_TIMEOUT) -> World:
    """Connect to the other ranks when launched by mlx.launch; a world of one otherwise."""
    timeout = STEP_TIMEOUT if step_timeout is None else step_timeout
    if not launched():
        return World(step_timeout=timeout)
    addresses = ring_addresses()
    rank = int(os.environ.get("MLX_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    if "MLX_RANK" in os.environ and len(addresses) < 2:
        return World(step_timeout=timeout)  # mlx.launch -n 1: nothing to connect to
    dog = Watchdog(rank, addresses)
    advice = connect_advice(addresses, rank) if addresses else "check the MPI set-up"
    try:
        with dog.connecting(connect_timeout, advice):
            group = mx.distributed.init(strict=True, backend="ring" if addresses else "any")
    except RuntimeError as err:
        dog.stop()
        raise KazftError(f"rank {rank} could not connect ({err}): {advice}") from None
    world = World(group.rank(), group.size(), group, addresses, dog, timeout)
    dog.last_checkpoint = lambda: world.last_checkpoint
    # Each rank's liveness port, so a survivor can tell which rank is gone.
    ports = mx.distributed.all_gather(mx.array([dog.port], mx.int32), group=group)
    with dog.waiting("exchanging liveness ports", connect_timeout, advice):
        mx.eval(ports)
    dog.peers = [int(p) for p in _values(ports)]
    return world


def dropout_seed(seed: int, index: int) -> int:
    """The dropout key of global micro-batch ``index``: a pure function of the seed
    and the index, so masks do not depend on the world size or on a resume.

    Micro-batch ``j`` of step ``s`` (1-based) that rank ``r`` computes has index
    ``(s - 1) * grad_accum + j`` with ``j`` in ``share(grad_accum, r, N)``.
    """
    h = hashlib.sha256(f"kazft-dropout:{seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def recipe_hash(recipe: Any) -> str:
    """sha256 of the resolved recipe (its source path left out)."""
    body = json.dumps(recipe.model_dump(mode="json", exclude={"source"}), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()
