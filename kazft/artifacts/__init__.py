"""What kazft writes to disk and reads back, in one layer below train, export,
generate, eval and serve (and usable by the pure-Python data and text code).

- ``names``: every file and folder name of a run, a checkpoint, a bundle.
- ``atomic``: the one atomic writer (files, folders; fsync; plain permissions).
- ``state``: ``TrainState``, every key of a checkpoint's state.json, versioned.
- ``checkpoints``: writing, listing (numeric order), ``latest_checkpoint``, pruning.
- ``adapters``: ``resolve_adapter``, ``AdapterRef``, ``LoraSpec``, the shape check.
- ``hashing``, ``archive``, ``manifest``: bundle hashes, safe unpacking, manifests.

Importing this package imports nothing else: no mlx, no recipe.
"""
