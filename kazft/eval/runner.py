"""``kazft eval``: base vs base + adapter on a split, retention, report; checkpoint selection.

One model in memory: the base with the adapter's LoRA layers; "base" numbers
are taken with every LoRA scale at 0 (exactly the base, see
:mod:`kazft.eval.perplexity`). Results go to ``eval.json`` (the run's, for the
bundle's model card) and to ``eval/report.md``, ``eval/report.html`` and PNGs.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kazft import __version__
from kazft.artifacts.hashing import sha256_file
from kazft.artifacts.names import ADAPTER_WEIGHTS, CHECKPOINTS_DIR
from kazft.errors import KazftError
from kazft.eval.answers import Item, generate_answers, make_item
from kazft.eval.loading import (
    Loaded,
    check_limit,
    check_no_leak,
    choose_split,
    load_adapter_weights,
    load_for_eval,
)
from kazft.eval.metrics import NLL, by_category, generation_metrics
from kazft.eval.perplexity import adapter_disabled, sequence_nll, total_nll
from kazft.eval.report import write_json, write_report
from kazft.eval.retention import DEFAULT_WARN, load_probes, run_probes, warnings_for

SYSTEMS = ("base", "adapter")
EVAL_JSON = "eval.json"
REPORT_DIR = "eval"
DEFAULT_MAX_TOKENS = 256
METRICS = ("loss", "chrf++")


@dataclass
class Options:
    target: str
    recipe: str | None = None
    overrides: list[str] = field(default_factory=list)
    split: str = "test"
    limit: int | None = None
    max_tokens: int | None = None  # None: the recipe's eval.max_tokens, else 256
    generate: bool = True
    retention: bool = True
    probes: dict[str, str] = field(default_factory=dict)  # lang -> file, over the recipe's
    retention_warn: float | None = None  # None: the recipe's, else 0.10
    samples: int = 5
    out: str | None = None
    metric: str = "loss"  # --checkpoints: choose the best by this


class Reporter(Protocol):
    """Where progress goes: a line per event, a counter per long task."""

    def log(self, message: str) -> None: ...

    def task(self, label: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


class StderrReporter:
    """Progress lines on stderr (the CLI uses a rich progress bar instead)."""

    def log(self, message: str) -> None:
        print(f"kazft: {message}", file=sys.stderr)

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda done: None


def eval_settings(recipe: Any) -> dict[str, Any]:
    """The recipe's ``eval`` section as a dict ({} while the recipe has none)."""
    section = getattr(recipe, "eval", None)
    if section is None:
        return {}
    return section.model_dump() if hasattr(section, "model_dump") else dict(section)


def resolve_max_tokens(opts: Options, settings: dict[str, Any]) -> int:
    """--max-tokens, else the recipe's eval.max_tokens, else 256."""
    value = opts.max_tokens if opts.max_tokens is not None else settings.get("max_tokens")
    value = DEFAULT_MAX_TOKENS if value is None else value
    if value < 1:
        raise KazftError(f"--max-tokens {value}: must be at least 1")
    return int(value)


def check_args(opts: Options) -> None:
    """Argument errors, reported before the model loads."""
    check_limit(opts.limit)
    if opts.max_tokens is not None and opts.max_tokens < 1:
        raise KazftError(f"--max-tokens {opts.max_tokens}: must be at least 1")
    if opts.split not in ("test", "valid", "train"):
        raise KazftError(f"--split {opts.split!r}: choose one of test, valid, train")
    for lang, path in opts.probes.items():
        if not Path(path).is_file():
            what = "a folder" if Path(path).is_dir() else "not found"
            raise KazftError(f"--probe {lang}={path}: {what}; give a UTF-8 text file")


def output_root(opts: Options, loaded: Loaded) -> Path:
    """--out, else the run folder for a run, else ./eval-<name> (never inside a bundle)."""
    if opts.out is not None:
        return Path(opts.out)
    ref = loaded.ref
    if ref.kind == "run" and ref.source is not None:
        return Path(ref.source)
    name = Path(str(ref.source or ref.folder)).name.removesuffix(".tar.gz").removesuffix(".tgz")
    return Path(f"eval-{name}")


def metrics_jsonl(loaded: Loaded) -> Path | None:
    """The run's training log, for the loss curve."""
    for folder in (loaded.ref.source, loaded.ref.folder.parent, loaded.ref.folder.parent.parent):
        if folder is not None and (Path(folder) / "metrics.jsonl").is_file():
            return Path(folder) / "metrics.jsonl"
    return None


def _loss_dict(nll: NLL) -> dict[str, Any]:
    return {"loss": nll.loss, "perplexity": nll.perplexity, "tokens": nll.tokens}


def _both_nll(model: Any, examples: Sequence[Any]) -> dict[str, list[NLL]]:
    seqs = [(ex.tokens, ex.mask) for ex in examples]
    adapter = sequence_nll(model, seqs)
    with adapter_disabled(model):
        base = sequence_nll(model, seqs)
    return {"base": base, "adapter": adapter}


def _both_answers(
    loaded: Loaded, items: Sequence[Item], max_tokens: int, reporter: Reporter
) -> tuple[dict[str, list[str]], dict[str, float]]:
    answers: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    seed = loaded.recipe.train.seed
    for system in ("adapter", "base"):
        t0 = time.perf_counter()
        with reporter.task(f"answers ({system})", len(items)) as advance:
            if system == "base":
                with adapter_disabled(loaded.model):
                    answers[system] = generate_answers(
                        loaded.engine, items, max_tokens, seed, advance
                    )
            else:
                answers[system] = generate_answers(loaded.engine, items, max_tokens, seed, advance)
        seconds[system] = time.perf_counter() - t0
    return answers, seconds


def _categories(
    items: Sequence[Item], nll: dict[str, list[NLL]], answers: dict[str, list[str]] | None
) -> dict[str, Any]:
    cats = sorted({it.category for it in items if it.category is not None})
    out: dict[str, Any] = {}
    refs = [it.reference for it in items]
    gen = (
        {s: by_category([it.category for it in items], answers[s], refs) for s in SYSTEMS}
        if answers
        else None
    )
    for cat in cats:
        idx = [i for i, it in enumerate(items) if it.category == cat]
        entry: dict[str, Any] = {"n": len(idx)}
        for s in SYSTEMS:
            numbers = _loss_dict(total_nll([nll[s][i] for i in idx]))
            if gen is not None:
                numbers.update(
                    {k: v for k, v in gen[s][cat].items() if k not in ("n", "signatures")}
                )
            entry[s] = numbers
        out[cat] = entry
    return out


def _retention(
    loaded: Loaded, opts: Options, settings: dict[str, Any], reporter: Reporter
) -> dict[str, Any]:
    probes = {**(settings.get("probes") or {}), **opts.probes}
    warn = (
        opts.retention_warn
        if opts.retention_warn is not None
        else settings.get("retention_warn", DEFAULT_WARN)
    )
    reporter.log("retention probe: perplexity on general Kazakh and Russian text")
    results = run_probes(
        loaded.model,
        loaded.tokenizer,
        load_probes(probes),
        max_len=loaded.recipe.data.max_seq_length,
        warn_threshold=warn,
        task=reporter.task,
    )
    return {
        "threshold": warn,
        "probes": [r.to_dict() for r in results],
        "warnings": warnings_for(results, warn),
    }


def _read_eval_json(path: Path) -> dict[str, Any]:
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return old if isinstance(old, dict) else {}


def _checkpoints_current(section: Any, run: Path) -> bool:
    """Whether a stored checkpoint table still describes the run's checkpoints
    (a retrained or resumed run replaces or prunes them)."""
    steps = section.get("steps") if isinstance(section, dict) else None
    if not steps:
        return False
    for s in steps:
        weights = run / CHECKPOINTS_DIR / str(s.get("name")) / ADAPTER_WEIGHTS
        if not weights.is_file() or sha256_file(weights) != s.get("sha256"):
            return False
    return True


def _write_eval_json(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    return _read_eval_json(path)  # as stored: NaN -> null, tuples -> lists


def _header(loaded: Loaded) -> dict[str, Any]:
    rec, ref = loaded.recipe, loaded.ref
    q = rec.model.quantize
    return {
        "format": 1,
        "kazft_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "adapter": {
            "path": str(ref.source or ref.folder),
            "kind": ref.kind,
            "folder": str(ref.folder),
            "base_model": ref.base_model,
            "sha256": sha256_file(ref.weights),
        },
        "model": {
            "base": rec.model.base,
            "revision": rec.model.revision,
            "quantize": q.model_dump() if q is not None else None,
        },
        "recipe": rec.source,
    }


def evaluate(
    opts: Options, reporter: Reporter | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Run the whole evaluation; returns (result as written to eval.json, files written)."""
    from kazft.data.pipeline import prepare

    rep = reporter or StderrReporter()
    if opts.samples < 0:
        raise KazftError(f"--samples {opts.samples}: must be >= 0")
    check_args(opts)
    loaded = load_for_eval(opts.target, opts.recipe, opts.overrides, rep.log, opts.split)
    settings = eval_settings(loaded.recipe)
    limit_tokens = resolve_max_tokens(opts, settings)
    split, examples, note = choose_split(
        prepare(loaded.recipe, loaded.tokenizer), opts.split, opts.limit
    )
    check_no_leak(loaded, split, examples, opts.recipe, opts.overrides)
    if note:
        rep.log(f"note: {note}")
    rep.log(f"evaluating on {len(examples)} {split} records")
    items = [make_item(ex, loaded.tokenizer, loaded.engine.stop_ids) for ex in examples]

    nll = _both_nll(loaded.model, examples)
    systems: dict[str, dict[str, Any]] = {s: _loss_dict(total_nll(nll[s])) for s in SYSTEMS}
    answers, signatures, generation = None, {}, None
    if opts.generate:
        answers, seconds = _both_answers(loaded, items, limit_tokens, rep)
        refs = [it.reference for it in items]
        for s in SYSTEMS:
            gm = generation_metrics(answers[s], refs)
            signatures = gm.pop("signatures")
            gm.pop("n")
            systems[s].update(gm)
        generation = {
            "max_tokens": limit_tokens,
            "decoding": "greedy",
            "seed": loaded.recipe.train.seed,
            "seconds": seconds,
        }

    result = {
        **_header(loaded),
        "split": split,
        "split_note": note,
        "records": len(items),
        "limit": opts.limit,
        "generation": generation,
        "signatures": signatures,
        "systems": systems,
        "categories": _categories(items, nll, answers),
        "retention": _retention(loaded, opts, settings, rep) if opts.retention else None,
        "samples": [
            {
                "source": it.source,
                "category": it.category,
                "question": it.question,
                "reference": it.reference,
                "base": answers["base"][i],
                "adapter": answers["adapter"][i],
            }
            for i, it in enumerate(items[: opts.samples])
        ]
        if answers
        else [],
    }
    root = output_root(opts, loaded)
    old = _read_eval_json(root / EVAL_JSON)
    if loaded.ref.kind == "run" and _checkpoints_current(old.get("checkpoints"), root):
        result["checkpoints"] = old["checkpoints"]  # kept: it describes the same checkpoints
    result = _write_eval_json(root / EVAL_JSON, result)
    files = write_report(result, root / REPORT_DIR, metrics_jsonl(loaded), rep.log)
    files["json"] = root / EVAL_JSON
    return result, files


def evaluate_checkpoints(
    opts: Options, reporter: Reporter | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Every saved checkpoint of a run on the validation split; the best by ``opts.metric``."""
    from kazft.artifacts.checkpoints import list_checkpoints
    from kazft.data.pipeline import prepare

    rep = reporter or StderrReporter()
    if opts.metric not in METRICS:
        raise KazftError(f"--metric {opts.metric!r}: choose one of {', '.join(METRICS)}")
    check_args(opts)
    loaded = load_for_eval(opts.target, opts.recipe, opts.overrides, rep.log, "valid")
    run = Path(str(loaded.ref.source))
    ckpts = list_checkpoints(run / CHECKPOINTS_DIR) if loaded.ref.kind == "run" else []
    if not ckpts:
        raise KazftError(
            f"{run}: no checkpoints to compare; --checkpoints takes a run folder "
            "with OUTPUT/checkpoints/step-*/ (train with train.save_every)"
        )
    split, examples, _ = choose_split(prepare(loaded.recipe, loaded.tokenizer), "valid", opts.limit)
    check_no_leak(loaded, split, examples, opts.recipe, opts.overrides)
    items = [make_item(ex, loaded.tokenizer, loaded.engine.stop_ids) for ex in examples]
    refs = [it.reference for it in items]
    limit_tokens = resolve_max_tokens(opts, eval_settings(loaded.recipe))
    seed = loaded.recipe.train.seed
    seqs = [(ex.tokens, ex.mask) for ex in examples]

    def chrf(system_answers: list[str]) -> float:
        return float(generation_metrics(system_answers, refs)["chrf++"])

    with adapter_disabled(loaded.model):
        base = _loss_dict(total_nll(sequence_nll(loaded.model, seqs)))
        if opts.metric == "chrf++":
            base["chrf++"] = chrf(generate_answers(loaded.engine, items, limit_tokens, seed))
    steps = []
    for step, folder in ckpts:
        load_adapter_weights(loaded.model, folder, loaded.adapter_config)
        row = {
            "name": folder.name,
            "step": step,
            "sha256": sha256_file(folder / ADAPTER_WEIGHTS),
            **_loss_dict(total_nll(sequence_nll(loaded.model, seqs))),
        }
        if opts.metric == "chrf++":
            with rep.task(f"answers ({folder.name})", len(items)) as advance:
                answers = generate_answers(loaded.engine, items, limit_tokens, seed, advance)
                row["chrf++"] = chrf(answers)
        rep.log(
            f"{folder.name}: loss {row['loss']:.4f}"
            + (f", chrF++ {row['chrf++']:.2f}" if "chrf++" in row else "")
        )
        steps.append(row)
    pick = min if opts.metric == "loss" else max
    best = pick(steps, key=lambda r: r[opts.metric])["name"]
    section = {
        "split": split,
        "records": len(items),
        "limit": opts.limit,
        "metric": opts.metric,
        "base": base,
        "steps": steps,
        "best": best,
    }
    root = output_root(opts, loaded)
    header = _header(loaded)
    old = _read_eval_json(root / EVAL_JSON)
    if (old.get("adapter") or {}).get("sha256") == header["adapter"]["sha256"]:
        result = {**old, "checkpoints": section}  # the side-by-side evaluation is still current
    else:
        if old.get("systems"):
            rep.log("note: the evaluation in eval.json was of another adapter; it is dropped")
        result = {**header, "checkpoints": section}
    result = _write_eval_json(root / EVAL_JSON, result)
    files = write_report(result, root / REPORT_DIR, metrics_jsonl(loaded), rep.log)
    files["json"] = root / EVAL_JSON
    return result, files
