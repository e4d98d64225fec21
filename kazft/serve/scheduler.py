"""Continuous batching for the server: mlx-lm's BatchGenerator, one adapter per row.

One thread owns the model. It runs mlx-lm's ``BatchGenerator`` (continuous
batching: a new request's prompt is prefilled and joins the running decode
batch; finished rows leave it) and, before every model call, tells the
:class:`~kazft.serve.rows.RowLoRA` side paths which adapter each row uses. The
two batch classes are subclassed only to do that (:mod:`kazft.serve.batching`);
scheduling, padding, KV caches and samplers are mlx-lm's.

Requests come from the event loop through :meth:`Scheduler.submit` and get
their text back as :class:`Event` objects on an ``asyncio.Queue``. A request
that is cancelled (client gone, time limit, shutdown) leaves the batch at the
next step. Each adapter's shared prefix (the system prompt) is prefilled once
and its KV cache copied into every request that starts with it.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mlx.core as mx

from kazft.serve.batching import RowGenerator, RowModel
from kazft.serve.rows import AdapterRows


class QueueFull(Exception):
    """Every batch slot and queue place is taken."""


class ShuttingDown(Exception):
    """The server is stopping and takes no new requests."""


@dataclass
class Event:
    kind: str  # "text", "done" or "error"
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class Job:
    slot: int  # adapter slot (0 = the base)
    ids: list[int]  # the whole prompt
    max_tokens: int
    sampler: Callable[[mx.array], mx.array]
    stop: list[str]
    deadline: float  # time.monotonic() after which the answer is cut ("length")
    emit: Callable[[Event], None]
    detok: Any = None
    uid: int | None = None
    cancelled: bool = False
    finished: bool = False
    text: str = ""  # decoded so far
    sent: int = 0  # characters of text already emitted
    generated: int = 0
    cached: int = 0  # prompt tokens served from the prefix cache
    t_submit: float = field(default_factory=time.perf_counter)
    t_first: float | None = None
    t_last: float | None = None


@dataclass
class Counters:
    """What /metrics and /health read (written by the scheduler thread only)."""

    generated_tokens: int = 0
    last_progress: float = field(default_factory=time.monotonic)


class Observer(Protocol):
    """What the decoder thread reports (kazft.serve.metrics.Metrics implements it)."""

    def admitted(self, prompt_tokens: int, cached_tokens: int) -> None: ...

    def token(self, first_after: float | None, gap: float | None) -> None: ...


class _Silent:
    def admitted(self, prompt_tokens: int, cached_tokens: int) -> None:
        pass

    def token(self, first_after: float | None, gap: float | None) -> None:
        pass


class Scheduler:
    def __init__(
        self,
        model: Any,
        rows: AdapterRows,
        tokenizer: Any,
        stop_ids: set[int],
        prefixes: dict[int, list[int]],
        max_batch: int = 8,
        max_queue: int = 16,
        prefill_step: int = 512,
        observer: Observer | None = None,
    ) -> None:
        self.observer: Observer = observer or _Silent()
        self.model = RowModel(model, rows)
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.gen = RowGenerator(
            self.model,
            stop_tokens=[[t] for t in sorted(stop_ids)],
            completion_batch_size=max_batch,
            prefill_batch_size=max_batch,
            prefill_step_size=prefill_step,
        )
        self.stop_ids = stop_ids
        self.prefix_ids = {k: list(v) for k, v in prefixes.items()}  # slot -> shared prefix
        self._prefix_cache: dict[int, list[Any]] = {}
        self._inbox: deque[Job] = deque()
        self._jobs: dict[int, Job] = {}  # uid -> job, in the generator
        self._lock = threading.Condition()
        self._pending = 0  # submitted and not finished
        self._stopping = False
        self._cut = False
        self.counters = Counters()
        self._thread = threading.Thread(target=self._run, name="kazft-decoder", daemon=True)
        self._thread.start()

    # --- called from the event loop ------------------------------------------------

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def queued(self) -> int:
        """Requests waiting for a batch slot."""
        return max(0, self._pending - self.max_batch)

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._stopping or self._cut:
                raise ShuttingDown
            if self._pending >= self.max_batch + self.max_queue:
                raise QueueFull(f"{self._pending} requests in flight")
            self._pending += 1
            if self._pending == 1:
                self.counters.last_progress = time.monotonic()
            self._inbox.append(job)
            self._lock.notify()

    def cancel(self, job: Job) -> None:
        with self._lock:
            job.cancelled = True
            self._lock.notify()

    def cut_all(self) -> None:
        """End every answer now with finish_reason "length" (shutdown deadline), so
        each client gets a complete reply instead of a dropped connection."""
        with self._lock:
            self._cut = True
            self._lock.notify()

    def stalled_for(self) -> float:
        """Seconds since the last token or prefill step while requests are in flight."""
        if self._pending == 0:
            return 0.0
        return time.monotonic() - self.counters.last_progress

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            # The decoder thread ends every answer ("length") and then exits; only it
            # touches the batch and its jobs.
            self._stopping = self._cut = True
            self._lock.notify()
        self._thread.join(timeout)

    # --- the decoder thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._inbox and not self._jobs and not self._stopping:
                    self._lock.wait(0.5)
                if self._stopping and not self._inbox and not self._jobs:
                    return
                new = list(self._inbox)
                self._inbox.clear()
            try:
                for job in new:
                    self._admit(job)
                self._drop_cancelled()
                if self._jobs:
                    self._step()
            except Exception as err:  # a failure answers every request, never wedges them
                for job in [*new, *self._jobs.values()]:
                    self._finish(job, None, error=f"{type(err).__name__}: {err}")
                self._jobs.clear()
                self.model.slot_of.clear()
                self.gen = RowGenerator(
                    self.model,
                    stop_tokens=[[t] for t in sorted(self.stop_ids)],
                    completion_batch_size=self.max_batch,
                    prefill_batch_size=self.max_batch,
                    prefill_step_size=self.gen.prefill_step_size,
                )

    def _prefix(self, slot: int) -> tuple[list[int], list[Any]] | None:
        ids = self.prefix_ids.get(slot)
        if not ids:
            return None
        if slot not in self._prefix_cache:
            from mlx_lm.models.cache import make_prompt_cache

            cache = make_prompt_cache(self.model.model)
            self.model.rows.use([slot])
            self.model.model(mx.array(ids)[None], cache=cache)  # (1, L)
            mx.eval([c.state for c in cache])
            self._prefix_cache[slot] = cache
        return ids, self._prefix_cache[slot]

    def _admit(self, job: Job) -> None:
        if job.cancelled or self._cut:
            self._finish(job, "stop" if job.cancelled else "length")
            return
        job.detok = self.tokenizer.detokenizer
        prompt, cache, before = job.ids, None, []
        prefix = self._prefix(job.slot)
        if prefix is not None:
            ids, kv = prefix
            n = len(ids)
            if len(job.ids) > n and job.ids[:n] == ids:
                # mlx-lm appends each sampled token to all_tokens: give it its own list.
                prompt, cache, before = job.ids[n:], copy.deepcopy(kv), list(ids)
                job.cached = n
        (uid,) = self.gen.insert(
            [prompt],
            max_tokens=[job.max_tokens],
            caches=[cache] if cache is not None else None,
            all_tokens=[before],
            samplers=[job.sampler],
        )
        job.uid = uid
        self.model.slot_of[uid] = job.slot
        self._jobs[uid] = job
        self.observer.admitted(len(job.ids), job.cached)

    def _drop_cancelled(self) -> None:
        now = time.monotonic()
        gone = []
        for uid, job in self._jobs.items():
            if job.cancelled:
                gone.append(uid)
                self._finish(job, "stop")
            elif now > job.deadline or self._cut:
                gone.append(uid)
                self._finish(job, "length")
        if gone:
            self.gen.remove(gone)
            for uid in gone:
                self._jobs.pop(uid, None)
                self.model.slot_of.pop(uid, None)

    def _step(self) -> None:
        _, responses = self.gen.next()
        now = time.perf_counter()
        self.counters.last_progress = time.monotonic()
        done = []
        for r in responses:
            job = self._jobs.get(r.uid)
            if job is None:
                continue
            job.generated += 1
            self.counters.generated_tokens += 1
            first = gap = None
            if job.t_first is None:
                job.t_first = now
                first = now - job.t_submit
            elif job.t_last is not None:
                gap = now - job.t_last
            job.t_last = now
            self.observer.token(first, gap)
            reason = r.finish_reason
            cut = False
            if r.token in self.stop_ids:
                reason = "stop"
            else:
                job.detok.add_token(r.token)
                job.text += job.detok.last_segment
                cut = bool(job.stop) and self._cut_at_stop(job)
                if cut:
                    reason = "stop"
            if reason is None:
                self._flush(job, final=False)
                continue
            if r.finish_reason is None:  # ended here, not by the batch: take it out
                done.append(r.uid)
            if not cut:
                job.detok.finalize()
                job.text += job.detok.last_segment
                if job.stop and self._cut_at_stop(job):
                    reason = "stop"
            self._finish(job, reason)
            self._jobs.pop(r.uid, None)
            self.model.slot_of.pop(r.uid, None)
        if done:
            self.gen.remove(done)

    def _cut_at_stop(self, job: Job) -> bool:
        # Search only where a stop string could newly end.
        start = max(0, job.sent - max(len(s) for s in job.stop))
        hits = [i for s in job.stop if (i := job.text.find(s, start)) >= 0]
        if not hits:
            return False
        job.text = job.text[: min(hits)]
        return True

    def _flush(self, job: Job, final: bool) -> None:
        end = len(job.text)
        if not final and job.stop:
            # Hold back what could be the start of a stop string.
            end = max(job.sent, end - (max(len(s) for s in job.stop) - 1))
        if end > job.sent:
            job.emit(Event("text", job.text[job.sent : end]))
            job.sent = end

    def _finish(self, job: Job, reason: str | None, error: str | None = None) -> None:
        if job.finished:
            return
        if error is None:
            self._flush(job, final=True)
        job.finished = True
        with self._lock:
            self._pending -= 1
        if error is not None:
            job.emit(Event("error", text=error))
            return
        job.emit(
            Event(
                "done",
                finish_reason=reason,
                prompt_tokens=len(job.ids),
                completion_tokens=job.generated,
                cached_tokens=job.cached,
            )
        )


def queue_emitter(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> Callable[[Event], None]:
    """An ``emit`` that hands events from the decoder thread to the event loop."""

    def emit(event: Event) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    return emit
