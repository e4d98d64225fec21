"""The trainer's side of several ranks: what ``train`` changes when the world is
larger than one (kazft.train.world holds the exchanges themselves).

* :func:`hooks_for`: fit's hooks for rank ``r``: its share of each step's
  micro-batches, the step's counts and gradients summed over the ranks, and the
  stop requests that travel with them into an :class:`AgreedStop`;
* :func:`start_from_rank0`: every rank starts from rank 0's adapter, optimiser
  state and position (the checkpoint may exist on rank 0's disk only);
* :func:`saver`: rank 0 writes each checkpoint; every rank notes where it is,
  so a rank that gives up on the others can name it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlx.core as mx

from kazft.artifacts.names import CHECKPOINTS_DIR, step_name
from kazft.artifacts.state import TrainState
from kazft.train.fit import Hooks
from kazft.train.world import World


class AgreedStop:
    """The stop flag ``fit`` sees with several ranks: the requests every rank sent
    with its gradients this step, so all ranks stop at the same step. A request
    that arrives after the exchange is sent (and honoured) with the next step."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return self.reason is not None


def hooks_for(
    world: World, hooks: Hooks, model: Any, local: Any, agreed: AgreedStop, step: int
) -> Hooks:
    """``hooks`` with this rank's share, the summed counts and the all-reduce."""
    if world.size == 1:
        return hooks
    at = [step]  # the step being computed, for the watchdog's messages

    def share(idx: list[int]) -> list[int]:
        return [idx[j] for j in world.share(len(idx))]

    def counts(mine: list[int]) -> list[int]:
        at[0] += 1
        return world.sum_counts(mine, at[0])

    def reduce(grads: Any, loss_sum: float) -> tuple[Any, float]:
        g, total, stops = world.reduce_step(
            grads, loss_sum, local.reason, at[0], model.trainable_parameters()
        )
        agreed.reason = " and ".join(f"{why} on rank {r}" for r, why in stops.items()) or None
        return g, total

    return dataclasses.replace(hooks, share=share, counts=counts, reduce=reduce)


def start_from_rank0(world: World, model: Any, optimizer: Any, state: TrainState) -> TrainState:
    """Rank 0's adapter, optimiser state and position on every rank."""
    if world.size == 1:
        return dataclasses.replace(state, world_size=1)
    step, position = world.broadcast_ints([state.step, state.data_position], "rank 0's position")
    model.update(world.broadcast_tree(model.trainable_parameters(), "rank 0's adapter"))
    optimizer.state = world.broadcast_tree(optimizer.state, "rank 0's optimiser state")
    mx.eval(model.parameters(), optimizer.state)
    return dataclasses.replace(state, step=step, data_position=position, world_size=world.size)


def saver(
    world: World, save: Callable[[TrainState], Path], run_dir: Path
) -> Callable[[TrainState], Path]:
    """Rank 0 saves; every rank notes the checkpoint for its watchdog's message."""

    def checkpoint(state: TrainState) -> Path:
        path = save(state) if world.main else run_dir / CHECKPOINTS_DIR / step_name(state.step)
        world.last_checkpoint = f"{path} (step {state.step}, on rank 0)"
        return path

    return checkpoint
