"""Answering with a base model plus adapter: loading, fast LoRA inference, streaming,
batch mode and chat (``kazft generate``, ``kazft chat``)."""
