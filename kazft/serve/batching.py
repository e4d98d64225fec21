"""mlx-lm's continuous batching with one adapter per row.

mlx-lm's ``BatchGenerator`` keeps a prompt-processing batch and a decode batch
and calls the model on each. The two batch classes are subclassed only to tell
the model, before each call, which adapter every row uses (their ``uids``
name the rows); scheduling, padding, KV caches and samplers stay mlx-lm's.
"""

from __future__ import annotations

from typing import Any

from mlx_lm.generate import BatchGenerator, GenerationBatch, PromptProcessingBatch

from kazft.serve.rows import AdapterRows


class RowModel:
    """The model as mlx-lm's batches see it, plus which rows use which adapter."""

    def __init__(self, model: Any, rows: AdapterRows) -> None:
        self.model = model
        self.rows = rows
        self.slot_of: dict[int, int] = {}  # uid -> adapter slot

    def use(self, uids: list[int]) -> None:
        self.rows.use([self.slot_of.get(u, 0) for u in uids])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


class _Prompt(PromptProcessingBatch):
    def prompt(self, tokens: list[list[int]]) -> None:
        self.model.use(self.uids)
        super().prompt(tokens)

    def generate(self, tokens: list[list[int]]) -> GenerationBatch:
        # GenerationBatch's constructor takes the first decode step with these rows.
        self.model.use(self.uids)
        return super().generate(tokens)


class _Generation(GenerationBatch):
    def _step(self) -> Any:
        self.model.use(self.uids)
        return super()._step()


class RowGenerator(BatchGenerator):
    def __init__(self, model: RowModel, **kw: Any) -> None:
        super().__init__(model, **kw)  # type: ignore[arg-type]
        self._prompt_batch = _Prompt.empty(
            self.model, self.sampler, prefill_step_size=self.prefill_step_size
        )
        self._generation_batch = _Generation.empty(self.model, self.sampler)

    @property
    def waiting(self) -> int:
        return len(self._unprocessed_sequences)

    @property
    def running(self) -> int:
        return len(self._prompt_batch) + len(self._generation_batch)
