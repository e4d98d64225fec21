"""``kazft serve``: an OpenAI-compatible server for a team, one base in memory,
many adapters chosen per request, concurrent users batched, safe by default.

Layout: :mod:`registry` (what is served), :mod:`rows` (per-row adapters),
:mod:`batching` (mlx-lm's BatchGenerator, one adapter per row),
:mod:`scheduler` (the decoder thread, queue, prefix cache, cancellation),
:mod:`answer` (request -> prompt, limits, job), one router per concern
(:mod:`models`, :mod:`chat`, :mod:`completions`, :mod:`ops`, :mod:`page` for the
web chat at ``/``), :mod:`app`
(``create_app``). Nothing outside ``kazft.cli`` imports this package.
"""
