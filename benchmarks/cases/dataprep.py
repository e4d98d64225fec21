"""Data preparation: records/s to validate, render, tokenize and batch N records.

kazft: ``kazft.data.pipeline.prepare(recipe, tokenizer)`` with the legal
recipe pointed at the synthetic file (read and validate every record, the
seeded duplicate-aware 90/10 split, render through the chat template with the
loss mask, fit to max_seq_length), then every micro-batch of one epoch from
``BatchIterator``. mlx-lm: ``mlx_lm.tuner.datasets.load_dataset`` on the same
records in its chat format (split 90/10 into train.jsonl / valid.jsonl), then
``CacheDataset`` + ``iterate_batches`` over every record (its tokenization is
lazy: batching is where it happens), ``mask_prompt`` on.

Cold = the first pass in a fresh process (tokenizer already loaded, its load
time reported apart); warm = a second pass in the same process with fresh
dataset objects (the tokenizer and the chat template compiled). Neither tool
keeps an on-disk cache of prepared data, so warm is the "cached" figure.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.harness import Run, alternate, medians, ratio
from benchmarks.synthetic import write_jsonl

VALID_SHARE = 0.1


def write_case(
    records: list[dict], tokenizer_dir: Path, workdir: Path, name: str
) -> tuple[dict, dict]:
    from benchmarks.cases.train import LEGAL_RECIPE, chat_records
    from kazft.recipe import load_recipe

    case = workdir / "dataprep" / name
    path = write_jsonl(case / "kazft" / "records.jsonl", records)
    data = load_recipe(LEGAL_RECIPE).data
    n_valid = int(len(records) * VALID_SHARE)
    chats = chat_records(records, data)
    write_jsonl(case / "mlxlm" / "train.jsonl", chats[n_valid:])
    write_jsonl(case / "mlxlm" / "valid.jsonl", chats[:n_valid])
    common = {"tokenizer": str(tokenizer_dir), "records": len(records), "passes": 2}
    return ({**common, "path": str(path)}, {**common, "folder": str(case / "mlxlm")})


def _timed(fn: Any, passes: int) -> list[float]:
    out = []
    for _ in range(passes):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def child_kazft(spec: dict) -> dict:
    import mlx_lm.utils  # noqa: F401  (imported before the clock, as in the mlx-lm child)

    from benchmarks.cases.train import LEGAL_RECIPE
    from kazft.data.batching import BatchIterator
    from kazft.data.pipeline import prepare
    from kazft.model.load import load_tokenizer
    from kazft.recipe import load_recipe

    t0 = time.perf_counter()
    tok = load_tokenizer(spec["tokenizer"])
    t_tok = time.perf_counter() - t0
    recipe = load_recipe(LEGAL_RECIPE, [f"data.train={spec['path']}"])
    seen: dict[str, int] = {}

    def once() -> None:
        prep = prepare(recipe, tok)
        tokens = 0
        for part in (prep.train, prep.valid):
            it = BatchIterator(part, recipe.train.batch_size, recipe.train.seed)
            tokens += sum(it.batch(i).n_tokens for i in range(it.batches_per_epoch))
        seen.update(examples=len(prep.train) + len(prep.valid), batched_tokens=tokens)

    return {"seconds": _timed(once, spec["passes"]), "tokenizer_load_s": t_tok, **seen}


def child_mlxlm(spec: dict) -> dict:
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import iterate_batches
    from mlx_lm.utils import load_config, load_tokenizer

    t0 = time.perf_counter()
    folder = Path(spec["tokenizer"])
    tok = load_tokenizer(folder, eos_token_ids=load_config(folder).get("eos_token_id"))
    t_tok = time.perf_counter() - t0
    args = SimpleNamespace(
        data=spec["folder"], train=True, test=False, mask_prompt=True, hf_dataset=None
    )
    seen: dict[str, int] = {}

    def once() -> None:
        train, valid, _ = load_dataset(args, tok)
        n, tokens = 0, 0
        for part in (train, valid):
            for batch, lengths in iterate_batches(CacheDataset(part), 1, 1024, loop=False):
                n += batch.shape[0]
                # Input positions (length - 1), as kazft's Batch.n_tokens counts them.
                tokens += int(lengths[:, 1].sum().item()) - batch.shape[0]
        seen.update(examples=n, batched_tokens=tokens)

    return {"seconds": _timed(once, spec["passes"]), "tokenizer_load_s": t_tok, **seen}


def summarize(res: dict, records: int) -> dict[str, Any]:
    cold, warm = res["seconds"][0], res["seconds"][-1]
    return {
        "cold_records_s": records / cold,
        "warm_records_s": records / warm,
        "cold_s": cold,
        "warm_s": warm,
        "examples": res["examples"],
        "batched_tokens": res["batched_tokens"],
        "tokenizer_load_s": res["tokenizer_load_s"],
        "rss_peak_gb": res["rss_peak_bytes"] / 1e9,
    }


KEYS = (
    "cold_records_s",
    "warm_records_s",
    "cold_s",
    "warm_s",
    "examples",
    "batched_tokens",
    "tokenizer_load_s",
    "rss_peak_gb",
)


def run_case(
    records: list[dict], tokenizer_dir: Path, repeats: int, workdir: Path, timeout: float, log=print
) -> dict:
    name = f"n{len(records)}"
    kz, ml = write_case(records, tokenizer_dir, workdir, name)
    log(f"dataprep/{name}: {len(records)} synthetic records, cold + warm pass per process")
    runs = [Run("kazft", "kazft-dataprep", kz), Run("mlx-lm", "mlxlm-dataprep", ml)]
    out = alternate(runs, repeats, workdir / "logs", f"dataprep.{name}", timeout, log)
    row: dict[str, Any] = {"case": name, "records": len(records), "repeats": repeats}
    for label, o in out.items():
        per = [summarize(r, len(records)) for r in o.results]
        row[label] = {"median": medians(per, KEYS), "runs": per, "errors": o.errors}
    a, b = row["kazft"]["median"], row["mlx-lm"]["median"]
    row["ratio"] = {
        k: ratio(a[k], b[k]) for k in ("cold_records_s", "warm_records_s", "rss_peak_gb")
    }
    return row
