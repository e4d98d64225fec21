"""Retention probe: did the adapter cost general Kazakh or Russian?

Kazakh practitioners report that fine-tuning Gemma on Kazakh made it worse at
Russian (the two share many tokens). The probe measures that directly: the
perplexity of the base and of base + adapter on held-out general text in each
language (plain text, no chat template, every token after ``<bos>`` scored),
and the relative change. A rise above the threshold is flagged.

Probe files are UTF-8 plain text with one document per line (blank lines are
skipped); each line is scored on its own, from ``<bos>``.
kazft ships one Kazakh and one Russian probe (``kazft/eval/assets/probe_kk.txt``,
``probe_ru.txt``); a recipe or the command line can name others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kazft.errors import KazftError
from kazft.eval.metrics import relative_change
from kazft.eval.perplexity import adapter_disabled, sequence_nll, total_nll

DEFAULT_WARN = 0.10  # warn when perplexity rises by more than 10 %
SHIPPED = {"kk": "probe_kk.txt", "ru": "probe_ru.txt"}
LANG_NAMES = {"kk": "general Kazakh", "ru": "general Russian"}


@dataclass(frozen=True)
class Probe:
    lang: str
    source: str  # a path, or "kazft:probe_kk.txt" for a shipped probe
    documents: list[str]


@dataclass(frozen=True)
class ProbeResult:
    lang: str
    source: str
    documents: int
    tokens: int  # scored tokens
    base_ppl: float
    adapter_ppl: float
    change: float  # (adapter - base) / base
    warn: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_documents(text: str) -> list[str]:
    """One document per non-empty line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def shipped_probe(lang: str) -> Probe:
    name = SHIPPED[lang]
    ref = resources.files("kazft.eval").joinpath("assets").joinpath(name)
    if not ref.is_file():
        raise KazftError(
            f"the shipped retention probe kazft/eval/assets/{name} is missing from this "
            "installation; reinstall kazft, or name your own probe files (--probe kk=FILE)"
        )
    return Probe(lang, f"kazft:{name}", split_documents(ref.read_text(encoding="utf-8")))


def file_probe(lang: str, path: str | Path) -> Probe:
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KazftError(
            f"retention probe {lang}: {p} not found; give an existing UTF-8 "
            "text file (one document per line)"
        ) from None
    except UnicodeDecodeError as err:
        raise KazftError(
            f"retention probe {lang}: {p} is not UTF-8 text (byte {err.start}); save it as UTF-8"
        ) from None
    docs = split_documents(text)
    if not docs:
        raise KazftError(f"retention probe {lang}: {p} holds no text")
    return Probe(lang, str(p), docs)


def load_probes(paths: Mapping[str, str | Path] | None = None) -> list[Probe]:
    """The shipped kk and ru probes, each replaced (or extended) by ``paths[lang]``."""
    paths = dict(paths or {})
    probes = [
        file_probe(lang, paths.pop(lang)) if lang in paths else shipped_probe(lang)
        for lang in SHIPPED
    ]
    probes += [file_probe(lang, p) for lang, p in sorted(paths.items())]
    return probes


def probe_sequences(
    tokenizer: Any, documents: Sequence[str], max_len: int
) -> list[tuple[list[int], list[bool]]]:
    """``<bos>`` + the document's ids, cut into windows of at most ``max_len``
    tokens (each window starts with ``<bos>``); every token after it is scored."""
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    bos = hf.bos_token_id
    head = [bos] if bos is not None else []
    step = max_len - len(head)
    if step < 2:
        raise ValueError(f"max_len {max_len} is too short for a probe window")
    seqs = []
    for doc in documents:
        ids = list(hf.encode(doc, add_special_tokens=False))
        for start in range(0, len(ids), step):
            window = head + ids[start : start + step]
            if len(window) >= 2:
                seqs.append((window, [False] * len(head) + [True] * (len(window) - len(head))))
    return seqs


def run_probes(
    model: Any,
    tokenizer: Any,
    probes: Sequence[Probe],
    max_len: int,
    warn_threshold: float = DEFAULT_WARN,
    task: Callable[[str, int], AbstractContextManager[Callable[[int], None]]] | None = None,
) -> list[ProbeResult]:
    """Perplexity of base (adapter scale 0) and base + adapter on each probe.

    ``task(label, total)``: a progress bar (the eval reporter's), advanced once per
    scored window and system."""
    results = []
    seqs_of = [probe_sequences(tokenizer, probe.documents, max_len) for probe in probes]
    total = 2 * sum(len(s) for s in seqs_of)
    done = 0
    with task("retention probe", total) if task else nullcontext(lambda n: None) as advance:

        def tick() -> None:
            nonlocal done
            done += 1
            advance(done)

        for probe, seqs in zip(probes, seqs_of, strict=True):
            adapted, base = _both(model, seqs, tick)
            results.append(_result(probe, adapted, base, warn_threshold))
    return results


def _both(model: Any, seqs: list, tick: Callable[[], None]) -> tuple[Any, Any]:
    adapted = total_nll(sequence_nll(model, seqs, tick))
    with adapter_disabled(model):
        base = total_nll(sequence_nll(model, seqs, tick))
    return adapted, base


def _result(probe: Probe, adapted: Any, base: Any, warn_threshold: float) -> ProbeResult:
    change = relative_change(base.perplexity, adapted.perplexity)
    return ProbeResult(
        lang=probe.lang,
        source=probe.source,
        documents=len(probe.documents),
        tokens=adapted.tokens,
        base_ppl=base.perplexity,
        adapter_ppl=adapted.perplexity,
        change=change,
        warn=change > warn_threshold,
    )


def warnings_for(results: Sequence[ProbeResult], warn_threshold: float) -> list[str]:
    """One sentence per probe whose perplexity rose by more than the threshold."""
    out = []
    for r in results:
        if r.warn:
            name = LANG_NAMES.get(r.lang, f"{r.lang!r} text")
            out.append(
                f"{name} perplexity rose by {100 * r.change:.1f} % ({r.base_ppl:.2f} -> "
                f"{r.adapter_ppl:.2f}), more than the {100 * warn_threshold:.0f} % threshold: "
                f"the adapter made the model worse at {name.removeprefix('general ')}. Consider "
                "fewer steps, a lower learning rate or rank, or mixing general "
                f"{name.removeprefix('general ')} text into the training data."
            )
    return out
