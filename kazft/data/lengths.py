"""Fitting encoded conversations into ``data.max_seq_length``.

``truncation: prompt`` cuts text from the start of the first user turn's own
content (the system prompt, ``<bos>``, the turn markers and every assistant
turn are kept) and renders the conversation again, until it fits; when even
an empty first user turn is too long, the record is excluded. ``truncation:
drop`` excludes every record longer than the limit. The target is never cut,
and an example with no trained token is excluded (never a 0/0 loss).

Records that need cutting are handled together, a round of batched
re-rendering at a time (one round almost always suffices).
"""

from __future__ import annotations

from dataclasses import dataclass

from kazft.data.render import ChatEncoder, Messages, RecordProblem


@dataclass
class Fitted:
    tokens: list[int]
    mask: list[bool]
    cut_tokens: int = 0  # how many tokens truncation removed (0: untouched)
    cut_chars: int = 0


@dataclass
class _Cut:
    user: int  # index of the first user message
    content: str
    n0: int  # tokens before cutting
    tokens: list[int]
    cut: int = 0  # characters cut so far


def _with_content(messages: Messages, u: int, content: str) -> Messages:
    msgs = [dict(m) for m in messages]
    msgs[u]["content"] = content
    return msgs


def _checked(fit: Fitted) -> Fitted | RecordProblem:
    if not any(fit.mask):
        return RecordProblem("no_target", "no token is trained (the answer renders empty)")
    return fit


def fit_lengths(
    encoder: ChatEncoder,
    convs: list[Messages],
    encoded: list[tuple[list[int], list[bool]]],
    max_len: int,
    policy: str,
) -> list[Fitted | RecordProblem]:
    """Each encoded conversation within ``max_len`` tokens, or the problem that excludes it."""
    out: list[Fitted | RecordProblem | None] = [None] * len(convs)
    state: dict[int, _Cut] = {}
    for i, (tokens, mask) in enumerate(encoded):
        n = len(tokens)
        if n <= max_len:
            out[i] = _checked(Fitted(tokens, mask))
        elif policy == "drop":
            out[i] = RecordProblem(
                "too_long",
                f"{n} tokens, more than data.max_seq_length {max_len} (truncation: drop)",
            )
        else:
            u = next(k for k, m in enumerate(convs[i]) if m["role"] == "user")
            state[i] = _Cut(u, convs[i][u]["content"], n, tokens)
    hopeless: list[int] = []
    pending = sorted(state)
    while pending:
        texts = [state[i].content[state[i].cut :] for i in pending]
        offsets = encoder.hf(texts, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        again: list[int] = []
        for i, offs in zip(pending, offsets, strict=True):
            st = state[i]
            excess = len(st.tokens) - max_len
            # The first token at or after the excess that starts a later character
            # (several byte-fallback tokens share one character's offsets).
            nxt = next((o[0] for o in offs[excess:] if o[0] > 0), None)
            if nxt is None:
                hopeless.append(i)
            else:
                st.cut += nxt
                again.append(i)
        convs2 = [
            _with_content(convs[i], state[i].user, state[i].content[state[i].cut :]) for i in again
        ]
        pending = []
        for i, enc in zip(again, encoder.encode(convs2), strict=True):
            st = state[i]
            if isinstance(enc, RecordProblem):
                out[i] = enc
            elif len(enc[0]) <= max_len:
                out[i] = _checked(Fitted(enc[0], enc[1], st.n0 - len(enc[0]), st.cut))
            else:
                st.tokens = enc[0]
                pending.append(i)
    empties = encoder.encode([_with_content(convs[i], state[i].user, "") for i in hopeless])
    for i, enc in zip(hopeless, empties, strict=True):
        need = f"{len(enc[0])} tokens" if not isinstance(enc, RecordProblem) else "more"
        out[i] = RecordProblem(
            "target_too_long",
            f"{state[i].n0} tokens; even with the first user turn cut to nothing it needs {need}, "
            f"more than data.max_seq_length {max_len} (answers are never cut)",
        )
    done = [o for o in out if o is not None]
    assert len(done) == len(out), "every conversation gets a result"
    return done
