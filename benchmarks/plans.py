"""What each run measures, by machine: the sizes, steps and repeats of every case.

With Metal or CUDA the cases run at the issue's sizes; on a CPU-only machine
(the mlx[cpu] wheel) the same cases run at stated reductions, each reduction
written into the results as a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from benchmarks.cases.train import TrainSettings
from benchmarks.models import ModelSpec


@dataclass(frozen=True)
class TrainCase:
    model: ModelSpec
    data: str  # "synthetic", "sample" (data/legal/legal_qa.jsonl) or "fixed"
    settings: TrainSettings
    repeats: int
    records: int = 300  # synthetic / fixed records written
    length: int = 0  # "fixed": rendered tokens per record
    requested_length: int | None = None  # the length the issue asks for, when reduced here

    @property
    def name(self) -> str:
        data = f"fixed{self.length}" if self.data == "fixed" else self.data
        packed = "-packed" if self.settings.packing else ""
        return f"{self.model.name}-{data}{packed}"


@dataclass(frozen=True)
class GenCase:
    model: ModelSpec
    max_tokens: int
    inner: int  # generations per process
    repeats: int
    system: bool = True  # the recipe's system prompt in the prompt


@dataclass(frozen=True)
class FrozenCase:
    """The frozen-layer cache over several epochs (benchmarks.cases.frozen)."""

    model: ModelSpec
    epochs: int
    records: int | None = None  # the first N records of the legal sample (None: all)


@dataclass
class Plan:
    profile: str
    bandwidth_mb: int
    bandwidth_repeats: int
    train: list[TrainCase] = field(default_factory=list)
    generate: list[GenCase] = field(default_factory=list)
    dataprep_records: int = 2000
    dataprep_repeats: int = 1
    timeout: float = 1800.0
    notes: list[str] = field(default_factory=list)
    # True: kazft and mlx-lm run at the same time, one process each (the long
    # CPU plan: single-threaded 4-bit matmuls on a 2-core machine). Peak memory
    # is per process and unaffected; times are contended and labelled so.
    concurrent: bool = False
    # the LM head + loss alone (benchmarks.cases.head): sequence length, kazft chunk sizes
    head_seq: int = 2048
    head_chunks: list[int] = field(default_factory=list)
    # one checkpointed decoder layer alone (benchmarks.cases.layer): tokens, 0 = off
    layer_seq: int = 0
    frozen: FrozenCase | None = None


def accelerated() -> bool:
    import mlx.core as mx

    metal = getattr(mx, "metal", None)
    cuda = getattr(mx, "cuda", None)
    return bool((metal and metal.is_available()) or (cuda and cuda.is_available()))


def long_plan() -> Plan:
    """``--long`` on a CPU-only machine: one QLoRA step of the 4B shapes at 512
    and 2048 tokens, at 2 layers (the head and loss at the real vocabulary are
    depth-independent and dominate the time: a 2048-token step took 43 minutes
    here), checkpointing on as on an 8 GB Mac; 34-layer memory extrapolated per
    layer (benchmarks.extrapolate.extrapolate_memory)."""
    big = ModelSpec("gemma-3-4b", layers=2, dtype="float32")
    # chunk 24: what loss_chunk auto picks with 8 GiB available; 48: with 16 GiB
    p = Plan("long", 0, 0, timeout=3 * 3600, concurrent=True, head_chunks=[24, 48], layer_seq=2048)
    for length in (2048, 512):
        s = TrainSettings(0, 1, length, grad_checkpoint=True)
        p.train.append(TrainCase(big, "fixed", s, 1, records=2, length=length))
    p.notes.append(
        "CPU long plan: the 4B shapes at 2 layers (one sliding-window, one global layer; "
        "LoRA on both), float32 activations, one step per tool (no warm-up: the "
        "step's time includes loading and compiling, seconds against the step's "
        "minutes). kazft and mlx-lm ran at the same time, one process each on this "
        "2-core machine: peak memory is each process's own; the times are contended."
    )
    return p


def plans(quick: bool, fast_device: bool, long: bool = False) -> Plan:
    if long and not fast_device:
        return long_plan()
    tiny, mid = ModelSpec("tiny"), ModelSpec("mid")
    if fast_device:
        big = ModelSpec("gemma-3-4b", layers=6, dtype="bfloat16")
        p = Plan(
            "quick" if quick else "full",
            1024,
            3,
            dataprep_records=10_000 if quick else 100_000,
            dataprep_repeats=3,
            timeout=3600,
        )
        ts = TrainSettings(warmup=3, measured=20)
        p.train = [
            TrainCase(tiny, "synthetic", ts, 3, records=2000),
            TrainCase(tiny, "sample", ts, 3),
            TrainCase(tiny, "sample", replace(ts, packing=True), 3),
            TrainCase(mid, "synthetic", ts, 3, records=2000),
        ]
        p.generate = [GenCase(tiny, 128, 3, 3), GenCase(mid, 128, 3, 3)]
        p.frozen = FrozenCase(tiny if quick else mid, 3)
        if not quick:
            p.train += [
                TrainCase(big, "fixed", TrainSettings(2, 5, 512), 3, records=16, length=512),
                TrainCase(
                    big,
                    "fixed",
                    TrainSettings(2, 5, 2048, grad_checkpoint=True),
                    3,
                    records=16,
                    length=2048,
                ),
            ]
            p.generate.append(GenCase(big, 64, 3, 3))
            p.head_chunks = [24, 48]
        return p
    # CPU only: every reduction below is reported with the results.
    if quick:
        p = Plan("quick", 256, 1, dataprep_records=2000, dataprep_repeats=1, timeout=900)
        p.train = [
            TrainCase(tiny, "synthetic", TrainSettings(2, 8), 2),
            TrainCase(tiny, "sample", TrainSettings(2, 8), 1),
            TrainCase(tiny, "sample", TrainSettings(1, 3, packing=True), 1),
            TrainCase(
                mid, "fixed", TrainSettings(1, 1, 64, system_prompt=False), 1, records=8, length=48
            ),
        ]
        p.generate = [GenCase(tiny, 64, 3, 2), GenCase(mid, 8, 1, 1, system=False)]
        p.frozen = FrozenCase(tiny, 2, records=40)
        p.notes.append(
            "CPU quick plan: the mid model trains on 48-token records without the "
            "system prompt (1 warm-up + 1 timed step) and answers a 8-token "
            "question without the system prompt: a legal-length step takes minutes "
            "on this CPU."
        )
        return p
    big = ModelSpec("gemma-3-4b", layers=2, dtype="float32")
    p = Plan("full", 512, 3, dataprep_records=100_000, dataprep_repeats=1, timeout=2400)
    p.train = [
        TrainCase(tiny, "synthetic", TrainSettings(2, 10), 3, records=2000),
        TrainCase(tiny, "sample", TrainSettings(2, 10), 3),
        TrainCase(tiny, "sample", TrainSettings(1, 4, packing=True), 3),
        TrainCase(
            mid, "fixed", TrainSettings(1, 2, 128, system_prompt=False), 1, records=8, length=120
        ),
        TrainCase(
            big,
            "fixed",
            TrainSettings(1, 1, 64, system_prompt=False),
            1,
            records=8,
            length=40,
            requested_length=512,
        ),
    ]
    p.generate = [
        GenCase(tiny, 64, 3, 3),
        GenCase(mid, 16, 1, 3, system=False),
        GenCase(big, 16, 1, 3, system=False),
    ]
    # The mid model takes minutes per legal-length step here: the tiny one runs
    # three epochs of the legal sample in about half an hour.
    p.frozen = FrozenCase(tiny, 3)
    p.notes += [
        "CPU full plan: the 4B shapes are built at 2 layers (pattern 2: one sliding-window, "
        "one global layer) in float32 (the mlx[cpu] 4-bit matmul is ~8x slower with bfloat16 "
        "activations), and train on 40-token records (1 warm-up + 1 timed step) instead of "
        "512 and 2048: one 512-token step of the 2-layer model would take about "
        "{est512} min here. The 34-layer figure is extrapolated (see the row's note).",
        "CPU full plan: the mid model trains on 120-token records without the system prompt "
        "(1 warm-up + 2 timed steps); a legal-length step takes several minutes on this CPU.",
    ]
    return p
