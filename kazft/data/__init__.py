"""The data pipeline: JSONL and Hugging Face records to masked Gemma 3 chat batches.

``pipeline.prepare(recipe, tokenizer)`` reads, validates, splits, renders and
masks; ``batching.BatchIterator`` serves the training batches. Pure Python,
numpy and a tokenizer object: nothing here imports mlx. The format rules are
in docs/data-format.md.
"""
