"""What Kazakhstan's AI law asks every place that shows an answer to say.

One home for the wording (../shared/reference/kz-ai-law.md): the CLI chat, the
server's response header, the web chat, review pages and model cards all take
their text from here, so a change of wording is made once.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["kk", "ru", "en"]
LANGUAGES: tuple[Language, ...] = ("kk", "ru", "en")

# The notice shown with every machine-generated answer, in the interface's language.
AI_NOTICE: dict[Language, str] = {
    "kk": "Жасанды интеллект жасаған жауап. Білікті заңгер тексеруі керек.",
    "ru": "Ответ сгенерирован искусственным интеллектом. Его должен проверить квалифицированный юрист.",
    "en": "Machine-generated answer. A qualified lawyer must check it.",
}

RiskClass = Literal["low", "medium", "high"]
RISK_CLASSES: tuple[RiskClass, ...] = ("low", "medium", "high")

# The law's own examples for each class, for cards and the first-visit notice.
RISK_EXAMPLES: dict[RiskClass, str] = {
    "low": "simple assistant systems, e.g. text correctors",
    "medium": "recommendations and advice that a person reviews before acting",
    "high": "AI that makes decisions in medicine, courts or law enforcement",
}

DEFAULT_RISK_REASON = (
    "a legal-consultation assistant whose answers advise a lawyer, who decides; "
    "used to decide court or law-enforcement matters it would be high risk"
)
DEFAULT_INTENDED_USE = "drafting answers to legal questions for a qualified lawyer to check before anyone relies on them"


def notice(lang: str) -> str:
    """The AI-generated notice in ``lang`` (kk, ru or en); Kazakh for anything else."""
    return AI_NOTICE.get(lang, AI_NOTICE["kk"])  # type: ignore[call-overload]


def header_value() -> str:
    """The notice for an HTTP header: ASCII only, so the English wording."""
    return AI_NOTICE["en"]
