"""Export a trained adapter: mlx-lm, PEFT, a fused model, or a verified bundle.

``source.load_source`` reads a run folder, a checkpoint or an mlx adapter
folder; each format module writes one output folder atomically.
"""
