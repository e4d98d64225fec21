"""How far a re-quantised fused model drifts from model+adapter, measured.

On the trained (masked) positions of the run's fixed validation batches (of its
training records when it has no validation split; the report says which):
- effect: mean |logits(model+adapter) - logits(base)|, what the adapter changed;
- drift:  mean |logits(fused) - logits(model+adapter)|, what fusing changed;
- losses of base, model+adapter and fused, and the share of the adapter's loss
  improvement the fused model keeps.
A warning is raised when drift >= DRIFT_WARN x effect, or when the fused model keeps
less than KEEP_WARN of the improvement: re-quantisation then erases a meaningful
part of the fine-tune, and the de-quantised fused model or the adapter should be
shipped instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

DRIFT_WARN = 0.2
KEEP_WARN = 0.8
# Below this loss improvement (nats per token) the "share kept" is noise, not reported.
MIN_GAIN = 0.01


@dataclass
class Drift:
    positions: int
    effect_mean: float
    drift_mean: float
    drift_max: float
    loss_base: float
    loss_adapter: float
    loss_fused: float
    measured_on: str = "validation records"  # which records the positions come from

    @property
    def ratio(self) -> float | None:
        return self.drift_mean / self.effect_mean if self.effect_mean > 0 else None

    @property
    def kept(self) -> float | None:
        gain = self.loss_base - self.loss_adapter
        return (self.loss_base - self.loss_fused) / gain if gain >= MIN_GAIN else None

    @property
    def erases_effect(self) -> bool:
        ratio, kept = self.ratio, self.kept
        return (ratio is not None and ratio >= DRIFT_WARN) or (
            kept is not None and kept < KEEP_WARN
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "kept": self.kept,
            "erases_effect": self.erases_effect,
        }

    def report(self) -> str:
        lines = [
            f"drift measured on {self.positions} trained tokens of {self.measured_on}:",
            f"  adapter effect  mean |logit(model+adapter) - logit(base)|  = {self.effect_mean:.4f}",
            f"  fused drift     mean |logit(fused) - logit(model+adapter)| = {self.drift_mean:.4f}"
            f" (max {self.drift_max:.4f})",
            f"  loss: base {self.loss_base:.4f}, model+adapter {self.loss_adapter:.4f}, "
            f"fused {self.loss_fused:.4f}",
        ]
        if self.ratio is not None:
            lines.append(f"  drift / effect = {self.ratio:.1%}")
        if self.kept is not None:
            lines.append(f"  fused keeps {self.kept:.1%} of the adapter's loss improvement")
        return "\n".join(lines)


def _num(x: Any) -> float:
    """A 0-d mx.array as a Python float."""
    return float(x.item())


def _lora_layers(model: Any) -> list[Any]:
    from mlx_lm.tuner.lora import LoRALinear

    return [m for _, m in model.named_modules() if isinstance(m, LoRALinear)]


def measure_drift(reference: Any, fused: Any, batches: Iterable[Any]) -> Drift:
    """``reference``: the model with its LoRA layers; ``fused``: the fused model.

    Each batch has ``inputs``, ``targets`` (B, L) int and ``mask`` (B, L) float
    (kazft.data.batching.Batch). The base logits are the reference's with every
    LoRA scale set to 0, which adds exactly 0 to each layer's output.
    """
    import mlx.core as mx
    import mlx.nn as nn

    layers = _lora_layers(reference)
    scales = [m.scale for m in layers]
    n = 0
    effect = drift = dmax = 0.0
    losses = [0.0, 0.0, 0.0]  # summed cross-entropy: base, model+adapter, fused
    for batch in batches:
        x = mx.array(batch.inputs)
        y = mx.array(batch.targets)
        mask = mx.array(batch.mask).astype(mx.float32)  # (B, L)
        ref = reference(x).astype(mx.float32)  # (B, L, V)
        for m in layers:
            m.scale = 0.0
        try:
            base = reference(x).astype(mx.float32)
        finally:
            for m, s in zip(layers, scales, strict=True):
                m.scale = s
        out = fused(x).astype(mx.float32)
        m3 = mask[..., None]
        d_fused = mx.abs(out - ref)
        effect += _num((mx.abs(ref - base).mean(axis=-1) * mask).sum())
        drift += _num((d_fused.mean(axis=-1) * mask).sum())
        dmax = max(dmax, _num((d_fused * m3).max()))
        for i, logits in enumerate((base, ref, out)):
            losses[i] += _num((nn.losses.cross_entropy(logits, y) * mask).sum())
        n += round(_num(mask.sum()))
    if n == 0:
        from kazft.errors import KazftError

        raise KazftError("no trained validation tokens to measure the fused model's drift on")
    return Drift(
        positions=n,
        effect_mean=effect / n,
        drift_mean=drift / n,
        drift_max=dmax,
        loss_base=losses[0] / n,
        loss_adapter=losses[1] / n,
        loss_fused=losses[2] / n,
        measured_on=getattr(batches, "measured_on", "validation records"),
    )


def validation_batches(src: Any, tokenizer: Any) -> list[Any]:
    """The run's fixed validation batches, as the trainer drew them (training examples
    when the run has no validation set)."""
    from kazft.data.batching import fixed_batches
    from kazft.data.pipeline import prepare
    from kazft.errors import KazftError

    if src.recipe is None:
        raise KazftError(
            f"{src.path}: no recipe.yaml, so no validation data to measure the "
            "re-quantised model's drift on; export from the run folder"
        )
    prepared = prepare(src.recipe, tokenizer)
    t = src.recipe.train
    # The trainer's own validation batches (same call, same seed).
    out = Batches(
        fixed_batches(prepared.valid or prepared.train, t.val_batches, t.batch_size, t.seed)
    )
    n = len(prepared.valid or prepared.train)
    records = f"record{'s' if n != 1 else ''}"
    out.measured_on = (
        f"{n} validation {records}"
        if prepared.valid
        else f"{n} training {records} (the run has no validation split)"
    )
    return out


class Batches(list):  # type: ignore[type-arg]
    """Batches that say which records they hold (for the drift report)."""

    measured_on = "validation records"
