"""Models: the embedded tiny Gemma 3, loading, quantisation and LoRA layers."""
