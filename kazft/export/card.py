"""The model card (README.md) shipped in a bundle.

Hugging Face front matter, then what a receiver needs to judge the adapter:
training data, recipe, measured metrics, the evaluation (the run's eval.json,
when it describes this adapter), the AI-law section (risk class, intended use,
human oversight, the machine-generated notice in kk/ru/en from
:mod:`kazft.notice`), limitations, and for legal data a notice that answers
are not legal advice. Every number comes from the run's files (recipe,
metrics.jsonl, eval.json, the adapter tensors, the data files when present);
what is not known is said, not guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kazft.artifacts.names import ADAPTER_WEIGHTS
from kazft.export.source import Source
from kazft.notice import AI_NOTICE, RISK_EXAMPLES
from kazft.recipe import CardSection

EVAL_JSON = "eval.json"
SPLIT_WORDS = {"test": "held-out test", "valid": "held-out validation", "train": "training"}
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

LEGAL_WORDS = ("legal", "law", "құқ", "заң", "кодекс", "право", "закон")
NOT_LEGAL_ADVICE = (
    "**Not legal advice.** This adapter was trained on legal questions and answers. Its "
    "outputs can be wrong, incomplete or out of date and are not legal advice; a qualified "
    "lawyer must check any answer before it is relied on.\n\n"
    "**Заңгерлік кеңес емес.** Модельдің жауаптары қате, толық емес немесе ескірген болуы "
    "мүмкін және заңгерлік кеңес болып табылмайды; кез келген жауапты білікті заңгер тексеруі керек."
)


def base_license(base_id: str | None) -> str:
    """The license field: Gemma's terms for Gemma bases, else 'other' (state it in the card)."""
    if base_id and "gemma" in base_id.lower():
        return "gemma"
    return "other"


def is_legal(src: Source) -> bool:
    if src.recipe is None:
        return False
    d = src.recipe.data
    trains = d.train if isinstance(d.train, list) else [d.train]
    text = " ".join(
        [*(Path(t).name for t in trains), d.system_prompt or "", d.prompt_template]
    ).lower()
    return any(w in text for w in LEGAL_WORDS)


def read_metrics(path: Path | None) -> dict[str, Any]:
    """Last train loss, last and best validation loss, with their steps."""
    out: dict[str, Any] = {}
    if path is None:
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        step = rec.get("step", rec.get("iter"))
        # kazft's trainer: {"kind": "train", "loss"}, {"kind": "valid", "val_loss"}, test_loss.
        train = rec.get(
            "train_loss", rec.get("loss") if rec.get("kind", "train") == "train" else None
        )
        if isinstance(train, (int, float)):
            out["train_loss"], out["train_step"] = float(train), step
        val = rec.get("val_loss")
        if isinstance(val, (int, float)):
            out["val_loss"], out["val_step"] = float(val), step
            if "best_val_loss" not in out or val < out["best_val_loss"]:
                out["best_val_loss"], out["best_val_step"] = float(val), step
        if isinstance(rec.get("test_loss"), (int, float)):
            out["test_loss"] = float(rec["test_loss"])
        if isinstance(rec.get("trained_tokens"), int):
            out["trained_tokens"] = rec["trained_tokens"]
    return out


def _data_lines(src: Source) -> list[str]:
    if src.recipe is None:
        return ["The run's recipe was not available at export; the training data is not described."]
    d = src.recipe.data
    lines = []
    for label, val in (("train", d.train), ("valid", d.valid), ("test", d.test)):
        if val is None:
            continue
        for item in val if isinstance(val, list) else [val]:
            p = Path(item)
            count = ""
            if p.is_file():
                n = sum(1 for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip())
                count = f": {n} records at export"
            lines.append(f"- {label}: `{p.name}`{count}")
    for label, given, frac in (
        ("validation", d.valid, d.split.valid),
        ("test", d.test, d.split.test),
    ):
        if given is not None:
            continue
        if frac > 0:
            lines.append(f"- {label}: a seeded {frac:.0%} split of the training data")
        elif label == "validation":
            lines.append("- validation: none (every training record was trained on)")
    lines.append(
        f"- format `{d.format}`, max {d.max_seq_length} tokens per example, "
        f"prompt tokens masked (loss on the answers only)"
    )
    if d.system_prompt:
        lines.append(f"- system prompt: {d.system_prompt}")
    return lines


def find_eval(src: Source) -> tuple[dict[str, Any] | None, str]:
    """(the run's eval.json when it describes the exported adapter, a sentence on why not)."""
    from kazft.artifacts.hashing import sha256_file

    path = src.run_dir / EVAL_JSON if src.run_dir is not None else None
    if path is None or not path.is_file():
        where = src.run_dir or src.path
        return None, (
            f"No evaluation was recorded: `{EVAL_JSON}` was not found in the run folder. "
            f"Run `kazft eval {where}` before exporting to put the base-vs-adapter "
            "comparison here."
        )
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, f"The run's `{EVAL_JSON}` could not be read; no evaluation is shown."
    if not isinstance(result, dict) or not result.get("systems"):
        return None, (
            f"The run's `{EVAL_JSON}` holds no base-vs-adapter comparison (only a checkpoint "
            f"table); run `kazft eval {src.run_dir}` to add one."
        )
    evaluated = (result.get("adapter") or {}).get("sha256")
    if evaluated != sha256_file(src.adapter_dir / ADAPTER_WEIGHTS):
        return None, (
            f"The run's `{EVAL_JSON}` describes another adapter (an earlier checkpoint or "
            f"run), so it is not shown; run `kazft eval` on what you export."
        )
    return result, ""


def eval_lines(result: dict[str, Any]) -> str:
    from kazft.eval.report import markdown_tables

    split = result.get("split")
    n = result.get("records")
    what = {
        "test": "held-out test records",
        "valid": "held-out validation records",
        "train": "training records (this measures fit to the training data, not quality on "
        "new questions)",
    }.get(str(split), f"{split} records")
    lim = f" (the first {result['limit']})" if result.get("limit") is not None else ""
    gen = result.get("generation")
    how = (
        f"greedy answers of at most {gen['max_tokens']} tokens scored against the references "
        "(chrF++, BLEU, exact match, token F1) and"
        if gen
        else ""
    )
    parts = [
        f"`kazft eval` compared the base model with base + adapter on {n} {what}{lim}: "
        f"{how} loss and perplexity on the reference answers' tokens "
        f"({result.get('created', 'date unknown')}, kazft {result.get('kazft_version', '?')}).",
    ]
    if result.get("split_note"):
        parts.append(f"Note: {result['split_note']}.")
    parts.append(markdown_tables(result, heading="###", skip=("Checkpoints",)))
    warnings = (result.get("retention") or {}).get("warnings") or []
    for w in warnings:
        parts.append(f"> **Warning:** {w}")
    if result.get("retention") and not warnings:
        parts.append(
            "Retention: general-text perplexity rose by no more than the "
            f"{100 * result['retention']['threshold']:.0f} % warning threshold."
        )
    ck = result.get("checkpoints") or {}
    if ck.get("best"):
        parts.append(f"Best checkpoint by {ck['metric']} on the {ck['split']} split: {ck['best']}.")
    parts.append(f"Every number and the metric signatures are in `{EVAL_JSON}`.")
    return "\n\n".join(parts) + "\n"


def ai_law_lines(card: CardSection) -> str:
    """Kazakhstan's law on artificial intelligence: class, use, oversight, transparency."""
    classes = "; ".join(f"{c}: {RISK_EXAMPLES[c]}" for c in ("low", "medium", "high"))
    high = (
        " The law treats high-risk systems like critical infrastructure, under strict control."
        if card.risk_class == "high"
        else ""
    )
    notices = "\n".join(f"- {LANGUAGE_NAMES[k]} ({k}): {v}" for k, v in AI_NOTICE.items())
    return (
        "Kazakhstan's law on artificial intelligence sorts systems into three risk classes "
        f"({classes}) and asks for transparency and human oversight.\n\n"
        f"- **Risk class: {card.risk_class}** (the trainer's own self-assessment, stated in "
        f"the recipe's `card.risk_class`; not a legal opinion). Why: {card.risk_reason}.{high}\n"
        f"- **Intended use:** {card.intended_use}.\n"
        f"- **Human oversight:** {card.reviewer} reviews every answer before anyone relies "
        "on it; the people concerned keep the right to human control and to appeal a "
        "decision.\n"
        "- **Transparency:** every answer shown to a person is marked as machine-generated, "
        "with this notice:\n\n"
        f"{notices}\n"
    )


def usage_lines(base: dict[str, Any]) -> str:
    """How to run the adapter, with a base id the tools accept (or what to give instead)."""
    bid = base["id"]
    kazft_base = mlx_base = bid  # kazft resolves kazft:tiny and hub ids itself
    if bid.startswith("kazft:"):
        note = (
            f"The base, `{bid}`, is kazft's embedded tiny test model (random weights); kazft "
            "resolves the name itself. For mlx-lm, build its folder first with `kazft model "
            "tiny tiny-gemma3` and pass that folder.\n\n"
        )
        mlx_base = "tiny-gemma3"
    elif base.get("local_folder"):
        note = (
            f"The base was a local folder (`{bid}`) on the machine that trained it, not a hub "
            "id: give your copy of that model (`kazft verify` checks it is the same).\n\n"
        )
        kazft_base = mlx_base = "PATH/TO/" + bid
    else:
        note = ""
    model_opt = f" --model {kazft_base}" if base.get("local_folder") else ""
    return (
        f"{note}```bash\nkazft verify BUNDLE --base {kazft_base}\n"
        f'kazft generate --adapter BUNDLE{model_opt} "Сұрақ..."\n'
        f'mlx_lm.generate --model {mlx_base} --adapter-path BUNDLE/mlx --prompt "..."\n```\n'
    )


def render_card(
    src: Source, manifest: dict[str, Any], license_id: str | None = None, legal: bool | None = None
) -> str:
    base = manifest["base_model"]
    lora = manifest["lora"]
    adapter = manifest["adapter"]
    legal = is_legal(src) if legal is None else legal
    tags = ["kazft", "mlx", "peft", "lora", "gemma3", "kazakh"]
    if manifest.get("quantization"):
        tags.insert(4, "qlora")
    if legal:
        tags.append("legal")
    front = {
        "base_model": base["id"],
        "library_name": "peft",
        "language": ["kk"],
        "license": license_id or base_license(base["id"]),
        "tags": tags,
        "pipeline_tag": "text-generation",
    }
    q = manifest.get("quantization")
    rev = f" (revision `{base['revision']}`)" if base.get("revision") else ""
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n",
        f"# LoRA adapter for {base['id']}\n",
        f"A {'QLoRA' if q else 'LoRA'} adapter trained with kazft {manifest['kazft_version']} on "
        f"`{base['id']}`{rev}. It ships in two formats: `mlx/` for mlx-lm and kazft on a Mac, "
        "`peft/` for transformers + PEFT. `manifest.json` holds the SHA-256 of every file and "
        "a fingerprint of the base model; check both with `kazft verify`.\n",
    ]
    if legal:
        parts.append(NOT_LEGAL_ADVICE + "\n")
    parts += ["## Training data\n", "\n".join(_data_lines(src)) + "\n", "## Recipe\n"]
    rows = [
        "- base model quantisation during training: "
        + (f"{q['bits']}-bit, group size {q['group_size']}" if q else "none (full precision)"),
        f"- LoRA rank {lora['rank']}, alpha {lora['alpha']:g} (scale {lora['scale']:g}), "
        f"dropout {lora['dropout']:g}, on {', '.join(lora['keys'])} of the last "
        f"{lora['num_layers']} decoder layers",
        f"- {adapter['parameters']:,} adapter parameters, {adapter['bytes']:,} bytes "
        f"({adapter['dtype']})",
    ]
    if src.recipe is not None:
        t = src.recipe.train
        rows.append(
            f"- {t.iters} steps, batch {t.batch_size} x {t.grad_accum} accumulation, "
            f"learning rate {t.learning_rate:g} ({t.schedule}), seed {t.seed}"
        )
    if adapter.get("step") is not None:
        rows.append(f"- exported from step {adapter['step']}")
    parts.append("\n".join(rows) + "\n\nThe full resolved recipe is `recipe.yaml`.\n")
    m = read_metrics(src.metrics_path)
    parts.append("## Metrics\n")
    if m:
        rows = []
        if "train_loss" in m:
            rows.append(f"- training loss {m['train_loss']:.4f} at step {m['train_step']}")
        if "val_loss" in m:
            rows.append(
                f"- validation loss {m['val_loss']:.4f} at step {m['val_step']} "
                f"(best {m['best_val_loss']:.4f} at step {m['best_val_step']})"
            )
        if "test_loss" in m:
            rows.append(f"- test loss {m['test_loss']:.4f}")
        if "trained_tokens" in m:
            rows.append(f"- {m['trained_tokens']:,} trained tokens")
        parts.append("\n".join(rows) + "\n\nEvery logged value is in `metrics.jsonl`.\n")
    else:
        parts.append("No metrics were recorded with this adapter.\n")
    evaluation, why_not = find_eval(src)
    parts += ["## Evaluation\n", eval_lines(evaluation) if evaluation else why_not + "\n"]
    card = src.recipe.card if src.recipe is not None else CardSection()
    parts += ["## AI law (Kazakhstan)\n", ai_law_lines(card)]
    parts += [
        "## How to use\n",
        usage_lines(base),
        "```python\nfrom peft import PeftModel\nmodel = PeftModel.from_pretrained(base_model, "
        '"BUNDLE/peft")\n```\n',
        "## Intended use\n",
        f"{card.intended_use[:1].upper()}{card.intended_use[1:]}. It answers in Kazakh, in "
        "the domain of the training data; ask in the prompt format it was trained with (the "
        "base model's chat template; see the recipe's system prompt and template).\n",
        "## Limitations\n",
        "- The adapter knows only what its training data and the base model contain; it can "
        "state wrong facts fluently, and it has no knowledge of changes after its data.\n"
        + (
            f"- It was evaluated by automatic metrics on {evaluation.get('records')} "
            f"{SPLIT_WORDS.get(str(evaluation.get('split')), evaluation.get('split'))} records "
            "(above); no human review is recorded here.\n"
            if evaluation
            else "- It was evaluated only by the training losses above (no `kazft eval`); "
            "no human review is recorded here.\n"
        )
        + "- Load it onto the exact base model recorded in `manifest.json`; on any other model "
        "it is meaningless.\n"
        + (
            "- Trained on a quantised base: on the full-precision base its outputs differ "
            "slightly from those measured here.\n"
            if q
            else ""
        )
        + ("- Not legal advice (see the notice above).\n" if legal else ""),
    ]
    return "\n".join(parts)
