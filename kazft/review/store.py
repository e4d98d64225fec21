"""A review folder: what raters see, the key they never see, and their ratings.

    REVIEW/
      review.json          what was compared, the seed, when, the generation settings
      items.jsonl          one item a line: id, question (+ input, category, difficulty,
                           reference), answer A, answer B; nothing says which system wrote which
      ratings.jsonl        one rating a line, appended and fsynced before the server replies
      key/key.json         item id -> which system is A; the systems' descriptions
      key/answers-*.jsonl  each system's answers (resumable batch generation output)

The page and its API read only items.jsonl and ratings.jsonl; key/ is read by
``kazft review report``. A rater's later rating of the same item replaces the
earlier one in the report (both stay in the file).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kazft.errors import KazftError

META = "review.json"
ITEMS = "items.jsonl"
RATINGS = "ratings.jsonl"
KEY_DIR = "key"
KEY = f"{KEY_DIR}/key.json"
SYSTEMS = ("adapter", "other")

Accuracy = Literal["correct", "partly", "wrong"]
Citations = Literal["correct", "wrong", "none"]
Preference = Literal["A", "B", "tie", "both_bad"]
ACCURACY_ORDER = {"wrong": 0, "partly": 1, "correct": 2}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(Strict):
    id: str
    question: str
    input: str = ""
    category: str | None = None
    difficulty: str | None = None
    reference: str | None = None
    a: str
    b: str


class AnswerRating(Strict):
    accuracy: Accuracy
    completeness: int = Field(ge=1, le=5)
    citations: Citations
    invented_law: bool = False


class RatingIn(Strict):
    """What the page posts: one rater's judgement of one item."""

    item: str = Field(min_length=1, max_length=64)
    rater: str = Field(min_length=1, max_length=80)
    preference: Preference
    a: AnswerRating
    b: AnswerRating
    comment: str = Field("", max_length=4000)


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(records, damaged): a line cut by a crash mid-write is left out and counted.

    The server appends only whole lines, and starts a fresh line after a torn one,
    so a line that does not parse can only be such a torn write (or a hand edit)."""
    if not path.is_file():
        return [], 0
    out, damaged = [], 0
    for raw in path.read_bytes().split(b"\n"):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            damaged += 1
            continue
        if isinstance(rec, dict):
            out.append(rec)
        else:
            damaged += 1
    return out, damaged


def require_review(folder: Path) -> None:
    if not (folder / ITEMS).is_file() or not (folder / META).is_file():
        raise KazftError(
            f"{folder}: not a review folder (no {ITEMS} / {META}); make one with "
            "kazft review create RUN --questions FILE -o FOLDER"
        )


def read_items(folder: Path) -> list[Item]:
    require_review(folder)
    records, _ = read_jsonl(folder / ITEMS)
    return [Item.model_validate(r) for r in records]


def read_key(folder: Path) -> dict[str, Any]:
    path = folder / KEY
    if not path.is_file():
        raise KazftError(f"{path}: the review's key is missing; the report cannot unblind it")
    key: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return key


class RatingLog:
    """Appends ratings one line at a time: written, flushed and fsynced before returning,
    so a closed tab or a killed server loses nothing that was acknowledged."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / RATINGS
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                if os.fstat(fd).st_size and not self._ends_with_newline():
                    line = b"\n" + line  # after a torn line, start a fresh one
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def read(self) -> list[dict[str, Any]]:
        return self.read_counted()[0]

    def read_counted(self) -> tuple[list[dict[str, Any]], int]:
        """(valid ratings in file order, lines left out as torn or malformed)."""
        from pydantic import ValidationError

        records, damaged = read_jsonl(self.path)
        valid = []
        for r in records:
            try:
                RatingIn.model_validate({k: v for k, v in r.items() if k != "time"})
            except ValidationError:
                damaged += 1
                continue
            valid.append(r)
        return valid, damaged
