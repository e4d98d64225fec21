"""``make bench``: kazft against mlx-lm, side by side, on one machine (see README.md)."""
