"""What answered a batch question, recorded with every answer (``generated_by``).

A resumed batch compares each earlier answer's record with the settings of the
run about to add to the file, and refuses to mix answers from other settings
(kazft.generate.batch.preflight); the review tool's answer files carry the same
record, so a review always says which model wrote what.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kazft.generate.engine import Sampling

PROVENANCE = "generated_by"
# The fields of generated_by that change an answer; "adapter" (the path) is informative only.
IDENTITY = (
    "base",
    "revision",
    "quantize",
    "adapter_sha256",
    "prompt_sha256",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
)


def record_key(record: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in record.items() if k not in ("generated", PROVENANCE)},
        sort_keys=True,
        ensure_ascii=False,
    )


def generated_by(source: Any, sampling: Sampling) -> dict[str, Any]:
    """What answered: base, quantisation, adapter fingerprint, prompt settings, sampling."""
    from kazft.artifacts.hashing import sha256_file

    q = source.quantize
    ad = source.adapter
    prompt = json.dumps(
        [source.data.system_prompt, source.data.prompt_template], ensure_ascii=False
    )
    return {
        "base": source.base,
        "revision": source.revision,
        "quantize": f"{q.bits}-bit g{q.group_size}" if q is not None else None,
        "adapter": str(ad.source or ad.folder) if ad is not None else None,
        "adapter_sha256": sha256_file(ad.weights)[:16] if ad is not None else None,
        "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()[:16],
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
    }


def differences(old: Any, new: dict[str, Any]) -> list[str]:
    """What differs between the settings an answer records and these, in words."""
    if not isinstance(old, dict):
        return ["no generated_by recorded (an older kazft or another tool)"]
    out = []
    for k in IDENTITY:
        if old.get(k) != new.get(k):
            label = {"adapter_sha256": "adapter", "prompt_sha256": "prompt settings"}.get(k, k)
            was, now = old.get(k), new.get(k)
            if k == "adapter_sha256":
                was = f"{old.get('adapter')} (sha256 {was})" if was else "none"
                now = f"{new.get('adapter')} (sha256 {now})" if now else "none"
            elif k == "prompt_sha256":
                was, now = "another system prompt or template", "these"
            out.append(f"{label} {was} -> {now}")
    return out
