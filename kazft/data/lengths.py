"""Fitting encoded conversations into ``data.max_seq_length``.

``truncation: prompt`` cuts the prompt side and renders the conversation
again, until it fits: first the end of the record's ``input`` (alpaca records,
where the recipe's template places the input once: the question in
``instruction`` is kept whole), then, when the input alone cannot make room or
there is none, text from the start of the first user turn's own content. The
system prompt, ``<bos>``, the turn markers and every assistant turn are kept;
when even an empty first user turn is too long, the record is excluded.
``truncation: drop`` excludes every record longer than the limit. The target is never cut,
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
    cut_start: bool = False  # cut from the start of the first user turn (else the input's end)


@dataclass
class _Cut:
    user: int  # index of the first user message
    content: str  # its content, as cut so far
    n0: int  # tokens before cutting
    tokens: list[int]
    span: tuple[int, int] | None  # the input's characters in content, while cutting it
    cut: int = 0  # characters cut so far
    cut_start: bool = False


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
    spans: list[tuple[int, int] | None] | None = None,
) -> list[Fitted | RecordProblem]:
    """Each encoded conversation within ``max_len`` tokens, or the problem that
    excludes it. ``spans``: per conversation, the input's characters in the
    first user message (cut from its end first), or None."""
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
            span = spans[i] if spans is not None else None
            state[i] = _Cut(u, convs[i][u]["content"], n, tokens, span)
    hopeless: list[int] = []
    pending = sorted(state)
    while pending:
        again = _cut_inputs([i for i in pending if state[i].span], state, encoder, max_len)
        at_start = [i for i in pending if not state[i].span and i not in again]
        again += _cut_starts(at_start, state, encoder, max_len, hopeless)
        convs2 = [_with_content(convs[i], state[i].user, state[i].content) for i in again]
        pending = []
        for i, enc in zip(again, encoder.encode(convs2), strict=True):
            st = state[i]
            if isinstance(enc, RecordProblem):
                out[i] = enc
            elif len(enc[0]) <= max_len:
                fit = Fitted(enc[0], enc[1], st.n0 - len(enc[0]), st.cut, st.cut_start)
                out[i] = _checked(fit)
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


def _offsets(encoder: ChatEncoder, texts: list[str]) -> list[list[tuple[int, int]]]:
    if not texts:
        return []
    return encoder.hf(texts, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]


def _cut_inputs(
    ids: list[int], state: dict[int, _Cut], encoder: ChatEncoder, max_len: int
) -> list[int]:
    """Cut the end of each input by the excess tokens; returns those cut. An input
    that cannot absorb the excess loses its span: the start is cut instead."""
    done = []
    spans = [(i, state[i].span) for i in ids]
    texts = [state[i].content[sp[0] : sp[1]] for i, sp in spans if sp is not None]
    for (i, sp), offs in zip(spans, _offsets(encoder, texts), strict=True):
        st = state[i]
        assert sp is not None, "only inputs being cut are passed"
        a, b = sp
        excess = len(st.tokens) - max_len
        keep = len(offs) - excess
        end = a + offs[keep][0] if 0 < keep < len(offs) else a
        if end > a:
            st.content = st.content[:end] + st.content[b:]
            st.cut += b - end
            st.span = (a, end)
            done.append(i)
        else:
            st.span = None
    return done


def _cut_starts(
    ids: list[int],
    state: dict[int, _Cut],
    encoder: ChatEncoder,
    max_len: int,
    hopeless: list[int],
) -> list[int]:
    """Cut the start of each first user turn by the excess tokens; returns those
    cut, and appends to ``hopeless`` those with nothing left to cut."""
    done = []
    for i, offs in zip(ids, _offsets(encoder, [state[i].content for i in ids]), strict=True):
        st = state[i]
        excess = len(st.tokens) - max_len
        # The first token at or after the excess that starts a later character
        # (several byte-fallback tokens share one character's offsets).
        nxt = next((o[0] for o in offs[excess:] if o[0] > 0), None)
        if nxt is None:
            hopeless.append(i)
        else:
            st.content = st.content[nxt:]
            st.cut += nxt
            st.cut_start = True
            done.append(i)
    return done
