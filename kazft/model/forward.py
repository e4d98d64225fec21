"""The Gemma 3 decoder forward with masks we build: packing.

``hidden_states(model, inputs, segments)`` runs mlx-lm's own modules (the
embedding, every decoder layer, the final norm) exactly as mlx-lm's
``Gemma3Model.__call__`` does, and returns the final hidden states instead of
logits, so the loss can project them onto the vocabulary chunk by chunk
(kazft.train.chunked_ce). What changes is only the attention masks:

* ``segments=None``: mlx-lm's masks (causal on global layers; causal and
  windowed on the local, sliding-window layers); the result equals
  ``model.model(inputs)`` bit for bit.
* ``segments`` (B, L) int: several records packed into one row. Token i may
  attend to token j iff both belong to the same record (same segment id),
  j <= i, and, on sliding layers, i - j < sliding_window. Segment id 0 marks
  padding: a padding token attends only to itself (a row with nothing to
  attend to would give NaN). Positions are not reset per record: rotary
  embeddings make attention scores depend on relative positions only, and the
  mask isolates the records (tests/model/test_forward.py checks per-record
  losses against each record run alone).

Each decoder layer runs as ``block`` runs it: mlx-lm's TransformerBlock and
Attention forward, step for step, with two memory-lean pieces whose forward
results are mlx's and whose backward never holds full-size intermediates:
attention (kazft.model.attention) and, where LoRA leaves the MLP frozen, the
gated MLP (kazft.model.mlp).

Gradient checkpointing and keyed dropout belong to the decoder layers
themselves (kazft.model.recompute.keyed_layers, beside this module):
``run_layer`` runs a keyed layer through its own ``__call__``.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from kazft.model.attention import sdpa
from kazft.model.mlp import mlp


def language_model(model: Any) -> Any:
    """The gemma3_text.Model inside an mlx-lm gemma3 (multimodal) or gemma3_text Model."""
    return model.language_model if "language_model" in model else model


def text_model(model: Any) -> Any:
    """The decoder stack (gemma3_text.Gemma3Model): embed_tokens, layers, norm."""
    return language_model(model).model


def head_layer(model: Any) -> nn.Module:
    """The layer whose weight projects hidden states onto the vocabulary: the
    tied embedding (Gemma 3), or ``lm_head`` where a checkpoint has its own."""
    lm = language_model(model)
    if getattr(lm, "tie_word_embeddings", True) or "lm_head" not in lm:
        return lm.model.embed_tokens
    return lm.lm_head


def logit_softcap(model: Any) -> float | None:
    """The final-logit soft-capping the model applies, as mlx-lm applies it.

    mlx-lm's gemma3_text keeps no ``final_logit_softcapping`` (Gemma 3 ships
    it as null), so this is None for Gemma 3: training then computes the same
    logits that mlx-lm generates with."""
    cap = getattr(language_model(model).args, "final_logit_softcapping", None)
    return float(cap) if cap else None


def segment_masks(segments: mx.array, window: int | None) -> tuple[mx.array, mx.array | None]:
    """Boolean attention masks (B, 1, L, L) for packed rows: (global, sliding).

    ``segments`` (B, L) int: record ids, 0 for padding. ``window``: the sliding
    window of local layers (None: no sliding mask is returned)."""
    seq = segments.shape[1]
    pos = mx.arange(seq)
    causal = pos[:, None] >= pos[None, :]  # (L, L), query i >= key j
    same = segments[:, :, None] == segments[:, None, :]  # (B, L, L)
    real = (segments != 0)[:, :, None]  # (B, L, 1)
    eye = pos[:, None] == pos[None, :]  # (L, L)
    allowed = (same & real & causal) | eye  # (B, L, L)
    glob = allowed[:, None]  # (B, 1, L, L): broadcast over heads
    if window is None:
        return glob, None
    near = (pos[:, None] - pos[None, :]) < window  # (L, L)
    return glob, (allowed & near)[:, None]


def _attention(attn: Any, x: mx.array, mask: Any) -> mx.array:
    """mlx-lm's gemma3_text Attention.__call__ without a cache, attention by
    kazft.model.attention.sdpa. x (B, L, H) -> (B, L, H)."""
    b, n, _ = x.shape
    q = attn.q_proj(x).reshape(b, n, attn.n_heads, -1).transpose(0, 2, 1, 3)  # (B, Hq, L, D)
    k = attn.k_proj(x).reshape(b, n, attn.n_kv_heads, -1).transpose(0, 2, 1, 3)  # (B, Hkv, L, D)
    v = attn.v_proj(x).reshape(b, n, attn.n_kv_heads, -1).transpose(0, 2, 1, 3)
    q = attn.rope(attn.q_norm(q))
    k = attn.rope(attn.k_norm(k))
    out = sdpa(q, k, v, attn.scale, mask)  # (B, Hq, L, D)
    return attn.o_proj(out.transpose(0, 2, 1, 3).reshape(b, n, -1))  # type: ignore[no-any-return]


def block(layer: Any, x: mx.array, mask: Any) -> mx.array:
    """mlx-lm's gemma3_text TransformerBlock.__call__ (no cache) with the lean
    attention and MLP; the same result. x (B, L, H) -> (B, L, H)."""
    from mlx_lm.models.gemma3_text import clip_residual

    r = _attention(layer.self_attn, layer.input_layernorm(x), mask)
    h = clip_residual(x, layer.post_attention_layernorm(r))
    r = mlp(layer.mlp, layer.pre_feedforward_layernorm(h))
    return clip_residual(h, layer.post_feedforward_layernorm(r))  # type: ignore[no-any-return]


def run_layer(layer: Any, x: mx.array, mask: Any) -> mx.array:
    """One decoder layer on x (B, L, H). A layer that kazft.model.recompute
    has keyed (its class carries ``_kazft_base``) runs through its own
    ``__call__``, which adds the dropout keys and checkpointing and runs
    ``block`` inside; any other layer runs ``block`` directly."""
    if getattr(type(layer), "_kazft_base", None) is not None:
        return layer(x, mask)  # type: ignore[no-any-return]
    return block(layer, x, mask)


def _has_trainable(layer: nn.Module) -> bool:
    return bool(tree_flatten(layer.trainable_parameters()))


def embed(model: Any, inputs: mx.array) -> mx.array:
    """Scaled token embeddings (B, L, H) of token ids (B, L), as mlx-lm's Gemma3Model."""
    tm = text_model(model)
    h = tm.embed_tokens(inputs)  # (B, L, H)
    # As mlx-lm: the sqrt(hidden) scale is rounded to bf16 first (as in the reference).
    return h * mx.array(tm.args.hidden_size**0.5, mx.bfloat16).astype(h.dtype)


def attention_masks(model: Any, h: mx.array, segments: mx.array | None) -> tuple[Any, Any]:
    """(global, sliding) masks for hidden states h (B, L, H): mlx-lm's causal
    ones, or the packed rows' block-diagonal ones when ``segments`` (B, L)."""
    from mlx_lm.models.base import create_attention_mask

    tm = text_model(model)
    pattern = tm.sliding_window_pattern
    if segments is None:
        global_mask: Any = create_attention_mask(h, None)
        sliding_mask: Any = (
            create_attention_mask(h, None, window_size=tm.window_size) if pattern > 1 else None
        )
        return global_mask, sliding_mask
    if segments.shape != h.shape[:2]:
        raise ValueError(f"segments {segments.shape} must match inputs {h.shape[:2]}")
    return segment_masks(segments, tm.window_size if pattern > 1 else None)


def first_adapted_layer(model: Any) -> int:
    """Index of the lowest decoder layer with trainable parameters (the number of
    layers when none has any): every layer below it is frozen, so its output
    for a given input is the same in every step."""
    layers = text_model(model).layers
    return next((i for i, layer in enumerate(layers) if _has_trainable(layer)), len(layers))


def frozen_prefix(model: Any, inputs: mx.array, segments: mx.array | None, stop: int) -> mx.array:
    """The hidden state (B, L, H) entering decoder layer ``stop``: embedding and
    layers [0, stop) computed as ``hidden_states`` computes them (the lean
    block in training mode, the layer's own call in evaluation mode), without
    drawing dropout keys (the caller accounts for them). Layers below ``stop``
    must be frozen: nothing of this is differentiated."""
    tm = text_model(model)
    h = embed(model, inputs)
    masks = attention_masks(model, h, segments)
    pattern = tm.sliding_window_pattern
    for i, layer in enumerate(tm.layers[:stop]):
        mask = masks[0] if i % pattern == pattern - 1 else masks[1]
        h = block(layer, h, mask) if layer.training else run_layer(layer, h, mask)
    return h


def hidden_states_from(
    model: Any,
    h: mx.array,
    segments: mx.array | None = None,
    start: int = 0,
) -> mx.array:
    """Final hidden states (B, L, H), after the final norm, from the hidden
    state ``h`` (B, L, H) entering decoder layer ``start``."""
    tm = text_model(model)
    global_mask, sliding_mask = attention_masks(model, h, segments)
    pattern = tm.sliding_window_pattern
    for i in range(start, len(tm.layers)):
        mask = global_mask if i % pattern == pattern - 1 else sliding_mask
        h = run_layer(tm.layers[i], h, mask)
    return tm.norm(h)


def hidden_states(
    model: Any,
    inputs: mx.array,
    segments: mx.array | None = None,
) -> mx.array:
    """Final hidden states (B, L, H), after the final norm, of token ids (B, L).

    ``model`` is what mlx_lm.load returns for gemma3 or gemma3_text (LoRA
    layers applied or not). ``segments`` (B, L) int packs several records
    per row (see the module docstring)."""
    if segments is not None and segments.shape != inputs.shape:
        raise ValueError(f"segments {segments.shape} must match inputs {inputs.shape}")
    return hidden_states_from(model, embed(model, inputs), segments, 0)
