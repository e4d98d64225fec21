"""The bundle's model card: the evaluation from eval.json, the AI-law section, usable lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from kazft.artifacts.manifest import sha256_file, verify_bundle
from kazft.export.bundle import export_bundle
from kazft.export.source import load_source
from kazft.notice import AI_NOTICE


def _result(sha: str) -> dict:
    """An eval.json as `kazft eval` writes it (the documented keys)."""
    sys_ = {
        "base": {"loss": 2.31, "perplexity": 10.07, "chrf++": 31.2, "bleu": 6.1,
                 "exact_match": 0.0, "token_f1": 18.4},
        "adapter": {"loss": 1.52, "perplexity": 4.57, "chrf++": 44.9, "bleu": 17.3,
                    "exact_match": 5.9, "token_f1": 39.6},
    }  # fmt: skip
    return {
        "format": 1,
        "kazft_version": "0.1.0",
        "created": "2026-01-01T12:00:00Z",
        "adapter": {"path": "run", "kind": "run", "sha256": sha},
        "split": "valid",
        "split_note": None,
        "records": 34,
        "limit": None,
        "generation": {"max_tokens": 256, "decoding": "greedy", "seed": 0},
        "systems": sys_,
        "categories": {
            "civil law (азаматтық құқық)": {"n": 9, **sys_},
        },
        "retention": {
            "threshold": 0.1,
            "probes": [
                {
                    "lang": "kk",
                    "source": "kazft:probe_kk.txt",
                    "documents": 80,
                    "tokens": 2074,
                    "base_ppl": 9.2,
                    "adapter_ppl": 9.4,
                    "change": 0.02,
                    "warn": False,
                },
                {
                    "lang": "ru",
                    "source": "kazft:probe_ru.txt",
                    "documents": 80,
                    "tokens": 2300,
                    "base_ppl": 9.81,
                    "adapter_ppl": 11.2,
                    "change": 0.142,
                    "warn": True,
                },
            ],  # fmt: skip
            "warnings": ["general Russian perplexity rose by 14.2 % (9.81 -> 11.20)"],
        },
    }


def _copy_run(runs, tmp_path: Path, card: dict | None = None, split_valid: float = 0.1) -> Path:
    run = tmp_path / "run"
    shutil.copytree(runs["gemma3"].dir, run)
    rec = yaml.safe_load((run / "recipe.yaml").read_text())
    rec["data"]["split"]["valid"] = split_valid
    rec["card"].update(card or {})
    (run / "recipe.yaml").write_text(yaml.safe_dump(rec, allow_unicode=True))
    return run


def _card(run: Path, out: Path) -> str:
    export_bundle(load_source(run), out)
    return (out / "README.md").read_text(encoding="utf-8")


def test_the_card_shows_the_evaluation_of_this_adapter(runs, tmp_path: Path):
    run = _copy_run(runs, tmp_path)
    sha = sha256_file(run / "adapters" / "adapters.safetensors")
    (run / "eval.json").write_text(json.dumps(_result(sha)), encoding="utf-8")
    card = _card(run, tmp_path / "b")
    ev = card[card.index("## Evaluation") : card.index("## AI law")]
    assert "on 34 held-out validation records" in ev
    assert "| chrF++ | 31.20 | 44.90 | +13.70 |" in ev and "| BLEU | 6.10 | 17.30 | +11.20 |" in ev
    assert "| exact match % | 0.0 | 5.9 | +5.9 |" in ev and "| token F1 % | 18.4 | 39.6 |" in ev
    assert "| perplexity | 10.070 | 4.570 | -54.6 % |" in ev
    assert "### By category" in ev and "civil law (азаматтық құқық) | 9 | 31.20 | 44.90" in ev
    assert "### Retention: general text" in ev and "WARNING" in ev
    assert "> **Warning:** general Russian perplexity rose by 14.2 %" in ev
    assert (
        "evaluated only by the" not in card
        and "automatic metrics on 34 held-out validation records" in card
    )
    assert json.loads((tmp_path / "b" / "eval.json").read_text())["records"] == 34
    assert verify_bundle(tmp_path / "b").files_checked == 8  # eval.json is listed and hashed


def test_the_card_says_plainly_when_there_is_no_evaluation(runs, tmp_path: Path):
    run = _copy_run(runs, tmp_path, split_valid=0.0)
    card = _card(run, tmp_path / "b")
    assert (
        f"No evaluation was recorded: `eval.json` was not found in the run folder. Run `kazft eval {run}`"
        in card
    )
    assert "evaluated only by the training losses above (no `kazft eval`)" in card
    assert "validation: none (every training record was trained on)" in card
    assert "seeded 0%" not in card and not (tmp_path / "b" / "eval.json").exists()
    # eval.json of another adapter (an earlier run) is not shown as this one's
    (run / "eval.json").write_text(json.dumps(_result("0" * 64)), encoding="utf-8")
    card = _card(run, tmp_path / "c")
    assert "describes another adapter" in card and "| chrF++ |" not in card


def test_the_ai_law_section(runs, tmp_path: Path):
    card = _card(_copy_run(runs, tmp_path), tmp_path / "b")
    law = card[card.index("## AI law (Kazakhstan)") : card.index("## How to use")]
    assert "three risk classes" in law and "**Risk class: medium**" in law
    assert "a legal-consultation assistant whose answers advise a lawyer" in law
    assert "**Human oversight:** a qualified lawyer of the team reviews every answer" in law
    for lang in ("kk", "ru", "en"):
        assert AI_NOTICE[lang] in law  # the one wording of kazft.notice
    high = {"risk_class": "high", "risk_reason": "it drafts court decisions",
            "reviewer": "the presiding judge", "intended_use": "drafting rulings"}  # fmt: skip
    card = _card(_copy_run(runs, tmp_path / "h", card=high), tmp_path / "h" / "b")
    assert "**Risk class: high**" in card and "Why: it drafts court decisions." in card
    assert "strict control" in card and "the presiding judge reviews every answer" in card
    assert "## Intended use\n\nDrafting rulings. It answers in Kazakh" in card


def test_usage_lines_name_a_base_the_tools_accept(runs, tmp_path: Path):
    # A local base folder: said, never passed to mlx_lm as if it were a hub id.
    card = _card(_copy_run(runs, tmp_path), tmp_path / "b")
    assert "The base was a local folder (`gemma3`)" in card
    assert "mlx_lm.generate --model PATH/TO/gemma3 --adapter-path BUNDLE/mlx" in card
