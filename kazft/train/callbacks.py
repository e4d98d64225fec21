"""Everything the trainer reports goes through small callbacks, not the loop.

* :class:`Progress`: a rich progress bar (step/total, loss, validation loss,
  learning rate, tokens/s, trained tokens/s, peak memory, ETA) and one line per
  report, so the log also reads well when it is not a terminal;
* :class:`MetricsLog`: ``OUTPUT/metrics.jsonl``, one JSON object per report and
  per validation; on resume, lines past the checkpoint's step are dropped, so
  the file describes one continuous run;
* :class:`LossPlot`: ``OUTPUT/loss.png`` (training and validation loss by step),
  rewritten at each checkpoint and at the end.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_path, atomic_write


@dataclass
class StepStats:
    step: int
    loss: float  # trained-token mean over the step's micro-batches
    learning_rate: float  # the rate this step's update used
    grad_norm: float  # before clipping
    n_tokens: int
    n_trained: int
    seconds: float
    n_examples: int = 0  # records in the step (packed rows hold several)


@dataclass
class RunInfo:
    run_dir: Path
    iters: int
    start_step: int
    stop: Any  # kazft.train.signals.StopFlag: callbacks may request a stop
    extra: dict[str, Any] = field(default_factory=dict)


class Callback:
    def on_begin(self, info: RunInfo) -> None: ...
    def on_step(self, stats: StepStats) -> None: ...
    def on_report(self, metrics: dict[str, Any]) -> None: ...
    def on_eval(self, metrics: dict[str, Any]) -> None: ...
    def on_checkpoint(self, step: int, path: Path) -> None: ...
    def on_end(self, summary: dict[str, Any]) -> None: ...
    def close(self) -> None:
        """Always called last, also after an error or a stop."""


class MetricsLog(Callback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_begin(self, info: RunInfo) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if info.start_step == 0:
            self.path.unlink(missing_ok=True)
            return
        if self.path.exists():
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= info.start_step
            ]
            atomic_write(self.path, "".join(line + "\n" for line in kept))

    def _append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def on_report(self, metrics: dict[str, Any]) -> None:
        self._append({"kind": "train", **metrics})

    def on_eval(self, metrics: dict[str, Any]) -> None:
        self._append({"kind": "valid", **metrics})

    def on_end(self, summary: dict[str, Any]) -> None:
        if summary.get("test_loss") is not None:
            self._append(
                {
                    "kind": "test",
                    "step": summary["step"],
                    "test_loss": summary["test_loss"],
                    "test_ppl": summary["test_ppl"],
                }
            )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class LossPlot(Callback):
    """Training and validation loss by optimiser step, from metrics.jsonl."""

    def __init__(self, metrics: Path, out: Path) -> None:
        self.metrics, self.out = metrics, out
        self.warned = False

    def draw(self) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            if not self.warned:
                print(
                    "note: matplotlib is not installed, so loss.png is not drawn "
                    "(pip install matplotlib); metrics.jsonl has the numbers",
                    file=sys.stderr,
                )
                self.warned = True
            return
        rows = read_metrics(self.metrics)
        train = [(r["step"], r["loss"]) for r in rows if r.get("kind") == "train"]
        valid = [(r["step"], r["val_loss"]) for r in rows if r.get("kind") == "valid"]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if train:
            ax.plot(*zip(*train, strict=True), label="train", color="tab:blue", linewidth=1.2)
        if valid:
            ax.plot(
                *zip(*valid, strict=True),
                label="validation",
                color="tab:orange",
                marker="o",
                markersize=3,
                linewidth=1.2,
            )
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss (mean cross-entropy per trained token)")
        ax.grid(alpha=0.3)
        if train or valid:
            ax.legend()
        fig.tight_layout()
        with atomic_path(self.out) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.draw()

    def on_end(self, summary: dict[str, Any]) -> None:
        self.draw()


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB" if n >= 1024**3 / 10 else f"{n / 1024**2:.0f} MB"


class Progress(Callback):
    """rich progress bar plus one printed line per report, validation and save."""

    def __init__(self, console: Any = None, bar: bool = True) -> None:
        from kazft.console import console as make_console
        from kazft.console import live

        self.console = console or make_console()
        # Off a terminal the bar would be printed once at the end, a stale line in the log.
        self.show_bar = bar and live(self.console)
        self.bar: Any = None
        self.fields: dict[str, Any] = {
            "loss": "-",
            "val": "-",
            "lr": "-",
            "tps": "-",
            "ttps": "-",
            "mem": "-",
        }

    def on_begin(self, info: RunInfo) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  lr {task.fields[lr]}"),
            TextColumn(
                "{task.fields[tps]} tok/s ({task.fields[ttps]} trained)  peak {task.fields[mem]}"
            ),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=not self.show_bar,
        )
        self.bar.start()
        self.task = self.bar.add_task(
            "train", total=info.iters, completed=info.start_step, **self.fields
        )

    def on_step(self, stats: StepStats) -> None:
        self.bar.update(self.task, completed=stats.step)

    def on_report(self, m: dict[str, Any]) -> None:
        self.fields.update(
            loss=f"{m['loss']:.3f}",
            lr=f"{m['learning_rate']:.2e}",
            tps=f"{m['tokens_per_s']:,.0f}",
            ttps=f"{m['trained_tokens_per_s']:,.0f}",
            mem=_gb(m["peak_memory"]),
        )
        self.bar.update(self.task, **self.fields)
        self.console.print(
            f"step {m['step']:>6}/{m['iters']}  loss {m['loss']:.4f}  lr {m['learning_rate']:.3e}  "
            f"{m['tokens_per_s']:,.0f} tok/s ({m['trained_tokens_per_s']:,.0f} trained)  "
            f"epoch {m['epoch']:.2f}  peak {_gb(m['peak_memory'])}",
            soft_wrap=True,
        )

    def on_eval(self, m: dict[str, Any]) -> None:
        self.fields["val"] = f"{m['val_loss']:.3f}"
        self.bar.update(self.task, **self.fields)
        self.console.print(
            f"step {m['step']:>6}  validation loss {m['val_loss']:.4f} "
            f"(perplexity {m['val_ppl']:.2f}) on {m['val_batches']} fixed batches, "
            f"{m['seconds']:.1f} s",
            soft_wrap=True,
        )

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.console.print(f"step {step:>6}  saved checkpoint {path}", soft_wrap=True)

    def close(self) -> None:
        if getattr(self, "bar", None) is not None:
            self.bar.stop()
            self.bar = None


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 700 else math.inf
