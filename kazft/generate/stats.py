"""Measured generation numbers: time to first token, tokens/s, peak memory.

Every field is measured (``time.perf_counter`` around the real work,
``mx.get_peak_memory()``); nothing is estimated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GenStats:
    prompt_tokens: int  # tokens of the whole prompt (history included)
    prefilled_tokens: int  # of those, how many were run through the model now
    generated_tokens: int  # sampled tokens, the stop token included
    ttft_s: float  # start of prefill -> first token known
    decode_s: float  # first token -> last token
    peak_memory_gb: float  # mx.get_peak_memory() during this generation
    finish_reason: str  # "stop" (end_of_turn / eos) or "length" (max tokens / context)

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: tokens after the first over the time after the first."""
        if self.generated_tokens < 2 or self.decode_s <= 0:
            return None
        return (self.generated_tokens - 1) / self.decode_s

    def line(self) -> str:
        """One human-readable line, e.g. for stderr."""
        cached = self.prompt_tokens - self.prefilled_tokens
        reuse = f" ({cached} cached)" if cached else ""
        tps = self.tokens_per_s
        speed = f"{tps:.1f} tok/s" if tps is not None else "- tok/s"
        return (
            f"prompt {self.prompt_tokens} tok{reuse}, TTFT {self.ttft_s:.2f} s, "
            f"{speed} ({self.generated_tokens} tok), peak {memory(self.peak_memory_gb)}"
        )

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        for key in ("ttft_s", "decode_s", "peak_memory_gb"):
            d[key] = round(float(d[key]), 6)  # type: ignore[arg-type]
        tps = self.tokens_per_s
        d["tokens_per_s"] = round(tps, 3) if tps is not None else None
        return d


def memory(gb: float) -> str:
    """1.23 GB, or 4.9 MB below a tenth of a GB (the tiny model)."""
    return f"{gb:.2f} GB" if gb >= 0.1 else f"{gb * 1000:.1f} MB"
