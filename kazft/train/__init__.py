"""Training: the QLoRA trainer, its checkpoints, schedule, memory estimate and signals."""
