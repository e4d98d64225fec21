"""Peak-memory estimate for a recipe, computed before anything is loaded.

``estimate(recipe, model_config)`` adds up, in bytes:

* ``weights``: the base model as trained (quantised matrices at ``bits`` plus a
  scale and a bias per group, everything else in the model's dtype; the vision
  tower is dropped at load time and not counted);
* ``adapter``: LoRA parameters in float32 with their gradient and AdamW's two
  moments (16 bytes per parameter; 20 with gradient accumulation, which keeps a
  running sum);
* ``activations``: what the forward pass keeps for the backward, for
  ``batch_size`` sequences of ``max_seq_length`` tokens, in the LoRA layers
  (the layers below them get no gradient and keep nothing): each one's
  intermediates as kazft's lean block keeps them (no attention scores; gate
  and up of a frozen MLP), or with gradient checkpointing only its input;
* ``backward``: one layer's working set during the backward: its
  intermediates (recomputed, with checkpointing) and their gradients and
  temporaries, 2 (checkpointing) or 1.5 times one layer's intermediates, plus
  the lean backward's chunk buffers (calibrated on 4B-shape steps at 512 and
  2048 tokens, benchmarks/RESULTS.md);
* ``logits``: the head's working set in the chunked cross-entropy
  (kazft.train.chunked_ce), which never holds the (tokens x vocabulary)
  logits: about ``IN_FLIGHT`` = 10 float32 (chunk x vocabulary) buffers in
  flight (measured, docs/memory.md) plus four float32 (tokens x hidden)
  tensors (the hidden states, the per-position gradient, its gathered and
  scattered copies): ``10 * chunk * V * 4 + 4 * B * L * H * 4`` bytes, with
  ``chunk`` = train.loss_chunk or, for ``auto``, what auto_chunk picks for
  the memory available;
* ``overhead``: 10 % for MLX's buffer cache and fragmentation.

The layers' backward and the head's run at different times, so the total is
weights + adapter + activations + the larger of (backward, logits) + overhead.

It is an estimate (labelled as such); the trainer reports the measured peak at
the end. The formulas are deliberately simple and shown in docs/training.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kazft.recipe import Recipe

GiB = 1024**3
# (chunk x V) float32 buffers the chunked cross-entropy keeps in flight
# (kazft.train.chunked_ce.IN_FLIGHT; repeated so this module loads without mlx).
IN_FLIGHT = 10
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class Shapes:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mlp: int
    vocab: int
    dtype_bytes: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Shapes:
        text = config.get("text_config") or config
        hidden = int(text["hidden_size"])
        heads = int(text.get("num_attention_heads", 8))
        dtype = config.get("torch_dtype") or text.get("torch_dtype") or text.get("dtype")
        return cls(
            hidden=hidden,
            layers=int(text["num_hidden_layers"]),
            heads=heads,
            kv_heads=int(text.get("num_key_value_heads", 4)),
            head_dim=int(text.get("head_dim", hidden // heads)),
            mlp=int(text["intermediate_size"]),
            # mlx-lm's gemma3 takes the top-level vocab_size (262208 by default).
            vocab=int(config.get("vocab_size") or text.get("vocab_size") or 262208),
            dtype_bytes=_DTYPE_BYTES.get(str(dtype), 2),
        )

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each projection in a decoder layer."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        h, m = self.hidden, self.mlp
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, m),
            "up_proj": (h, m),
            "down_proj": (m, h),
        }


def _weights(s: Shapes, recipe: Recipe) -> int:
    matrix_values = s.layers * sum(i * o for i, o in s.projections().values())
    matrix_values += s.vocab * s.hidden  # tied embedding / output layer
    norm_values = s.layers * (4 * s.hidden + 2 * s.head_dim) + s.hidden
    q = recipe.model.quantize
    per_value = (q.bits / 8 + 2 * s.dtype_bytes / q.group_size) if q else s.dtype_bytes
    return int(matrix_values * per_value + norm_values * s.dtype_bytes)


def adapter_parameters(s: Shapes, recipe: Recipe) -> int:
    proj = s.projections()
    per_layer = sum(recipe.lora.rank * sum(proj[t]) for t in recipe.lora.targets)
    return min(recipe.lora.layers, s.layers) * per_layer


def _mlp_trained(recipe: Recipe) -> bool:
    """LoRA on an MLP projection: the MLP is then differentiated by MLX's
    autodiff instead of kazft.model.mlp's lean backward."""
    return any(t in ("gate_proj", "up_proj", "down_proj") for t in recipe.lora.targets)


def _layer(s: Shapes, recipe: Recipe) -> int:
    """One decoder layer's intermediates for one micro-batch, as the lean block
    (kazft.model.forward.block) keeps them: no (L x L) attention scores
    (kazft.model.attention), gate and up of a frozen MLP (kazft.model.mlp)."""
    t = recipe.train.batch_size * recipe.data.max_seq_length  # padded: the worst case
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    proj = s.projections()
    # Norm inputs/outputs, residuals, q/k/v before and after their norms and
    # rotary embedding, the attention output, gate and up (+2 for autodiff).
    per_token = 10 * s.hidden + 2 * q + 3 * kv + (4 if _mlp_trained(recipe) else 2) * s.mlp
    # LoRA keeps the dropped-out input and x @ A for each adapted projection.
    per_token += sum(proj[tgt][0] + recipe.lora.rank for tgt in recipe.lora.targets)
    return t * per_token * s.dtype_bytes


def _chunk_buffers(s: Shapes, recipe: Recipe) -> int:
    """The lean backward's chunk temporaries (float32 at most), and with LoRA on
    the MLP, autodiff's full-size MLP temporaries (about 8 more (tokens x mlp)
    buffers, measured: docs/memory.md)."""
    b = recipe.train.batch_size
    chunks = ATTENTION_CHUNK_BUFFERS * b * s.heads * 2**17 * 4 + MLP_CHUNK_BUFFERS * 2**19 * 4
    if _mlp_trained(recipe):
        chunks += 8 * b * recipe.data.max_seq_length * s.mlp * s.dtype_bytes
    return chunks


def _kept(s: Shapes, recipe: Recipe, checkpoint: bool) -> int:
    """What the forward keeps for the backward, for the layers that get a
    gradient (the LoRA layers; those below them keep nothing): each one's
    input with checkpointing, else all of its intermediates."""
    trained = min(recipe.lora.layers, s.layers)
    if checkpoint:
        tokens = recipe.train.batch_size * recipe.data.max_seq_length
        return trained * tokens * s.hidden * s.dtype_bytes
    return trained * _layer(s, recipe)


# One layer's backward holds its intermediates' gradients and temporaries on top
# of the intermediates (recomputed first with checkpointing), plus the lean
# backward's chunk buffers (kazft.model.attention / kazft.model.mlp: 2**17
# score elements per head, 2**19 MLP elements per chunk; a handful in flight).
# Calibrated on the 4B shapes (2 layers, fp32, checkpointing on) at 512 and 2048
# tokens: benchmarks/RESULTS.md.
BACKWARD_FACTOR = {True: 2.0, False: 1.5}
ATTENTION_CHUNK_BUFFERS = 10
MLP_CHUNK_BUFFERS = 12


def loss_chunk(recipe: Recipe, vocab: int, available_bytes: int | None = None) -> int:
    """Positions per head chunk: train.loss_chunk, or for ``auto`` what
    chunked_ce.auto_chunk picks (``available_bytes`` None: this machine's
    available memory, as the trainer decides it)."""
    if recipe.train.loss_chunk != "auto":
        return recipe.train.loss_chunk
    from kazft.train.chunked_ce import auto_chunk

    return auto_chunk(vocab, available_bytes)


def _logits(s: Shapes, recipe: Recipe, chunk: int) -> int:
    tokens = recipe.train.batch_size * recipe.data.max_seq_length
    return IN_FLIGHT * chunk * s.vocab * 4 + 4 * tokens * s.hidden * 4


def estimate(
    recipe: Recipe,
    model_config: dict[str, Any],
    checkpoint: bool | None = None,
    available_bytes: int | None = None,
) -> dict[str, int]:
    """Peak-memory breakdown in bytes; ``checkpoint`` None means the recipe's
    setting, with ``auto`` resolved by :func:`resolve_grad_checkpoint`;
    ``available_bytes`` sizes ``loss_chunk: auto`` (None: this machine)."""
    s = Shapes.from_config(model_config)
    if checkpoint is None:
        checkpoint = resolve_grad_checkpoint(recipe, model_config, available_bytes=available_bytes)
    n_adapter = adapter_parameters(s, recipe)
    parts = {
        "weights": _weights(s, recipe),
        "adapter": n_adapter * (20 if recipe.train.grad_accum > 1 else 16),
        "activations": _kept(s, recipe, checkpoint),
        "backward": int(BACKWARD_FACTOR[checkpoint] * _layer(s, recipe))
        + _chunk_buffers(s, recipe),
        "logits": _logits(s, recipe, loss_chunk(recipe, s.vocab, available_bytes)),
    }
    # The layers' backward and the head's working set are never live together.
    peak = sum(v for k, v in parts.items() if k not in ("backward", "logits"))
    peak += max(parts["backward"], parts["logits"])
    parts["overhead"] = peak // 10
    parts["total"] = peak + parts["overhead"]
    return parts


def memory_budget() -> int | None:
    """Bytes the trainer may use: on a Mac, Metal's recommended working set
    (about 75 % of RAM); elsewhere the physical memory."""
    from kazft.system import memory_bytes, mlx_info

    try:
        info = mlx_info().device_info
    except Exception:  # no MLX backend details: fall back to physical memory
        info = {}
    limit = info.get("max_recommended_working_set_size")
    if limit:
        return int(limit)
    return memory_bytes()[0]


def resolve_grad_checkpoint(
    recipe: Recipe,
    model_config: dict[str, Any],
    budget: int | None = None,
    available_bytes: int | None = None,
) -> bool:
    """``auto``: on when, without it, the estimate (with the chunked loss's
    logits term) would pass half the budget (or 8 GiB when the machine's
    memory is unknown)."""
    setting = recipe.train.grad_checkpoint
    if setting != "auto":
        return setting == "on"
    budget = budget if budget is not None else memory_budget()
    limit = budget / 2 if budget else 8 * GiB
    off = estimate(recipe, model_config, checkpoint=False, available_bytes=available_bytes)
    return off["total"] > limit


def advice(recipe: Recipe, model_config: dict[str, Any], checkpoint: bool) -> list[str]:
    """Concrete changes that lower the estimate, each with the new total."""
    base = estimate(recipe, model_config, checkpoint)["total"]
    tips: list[tuple[int, str]] = []

    def consider(label: str, changes: dict[str, dict[str, Any]], ckpt: bool = checkpoint) -> None:
        data = recipe.model_dump(mode="json", exclude={"source"})
        for section, values in changes.items():
            data[section].update(values)
        total = estimate(Recipe.model_validate(data), model_config, ckpt)["total"]
        if total < base * 0.95:
            tips.append(
                (
                    total,
                    f"{label}: about {total / GiB:.1f} GiB (saves {(base - total) / GiB:.1f} GiB)",
                )
            )

    if not checkpoint:
        consider("set train.grad_checkpoint: on", {}, ckpt=True)
    seq = recipe.data.max_seq_length
    if seq >= 256:
        consider(
            f"lower data.max_seq_length to {seq // 2} (longer records are cut or "
            "dropped as data.truncation says)",
            {"data": {"max_seq_length": seq // 2}},
        )
    b = recipe.train.batch_size
    if b > 1:
        consider(
            f"set train.batch_size: 1 and train.grad_accum: {b * recipe.train.grad_accum} "
            "(same tokens per optimiser step)",
            {"train": {"batch_size": 1, "grad_accum": b * recipe.train.grad_accum}},
        )
    q = recipe.model.quantize
    if q is None or q.bits > 4:
        consider(
            "quantise the base to 4 bits (model.quantize: {bits: 4, group_size: 64})",
            {"model": {"quantize": {"bits": 4, "group_size": 64}}},
        )
    if recipe.lora.rank > 16:
        consider(
            f"lower lora.rank to {recipe.lora.rank // 2}", {"lora": {"rank": recipe.lora.rank // 2}}
        )
    return [text for _, text in sorted(tips)]


def fmt_bytes(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / 1024**2:.1f} MiB"


def describe(parts: dict[str, int]) -> str:
    order = ("weights", "adapter", "activations")
    body = ", ".join(f"{k} {fmt_bytes(parts[k])}" for k in order)
    body += (
        f", the larger of layer backward {fmt_bytes(parts['backward'])} and "
        f"logits {fmt_bytes(parts['logits'])}, overhead {fmt_bytes(parts['overhead'])}"
    )
    return f"estimated peak memory {fmt_bytes(parts['total'])} ({body})"
