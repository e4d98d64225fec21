"""``kazft serve``: the OpenAI-compatible server and its web chat."""
