"""``kazft eval``: does the adapter help, where, and what did it cost?

metrics (pure Python), perplexity (loss with the adapter on/off), retention
(general Kazakh/Russian probes), answers, loading, report and runner.
"""
