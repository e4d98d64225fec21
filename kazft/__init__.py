"""kazft: QLoRA fine-tuning of Gemma 3 on Apple Silicon, built on MLX and mlx-lm."""

__version__ = "0.1.0"
