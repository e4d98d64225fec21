"""Kazakh text tools behind ``kazft data``: pure Python, never imports mlx.

Modules, by what they hold:

- ``alphabets``: letter tables (Cyrillic, Latin 2017/2018/2021) and letter classes.
- ``tokens``: word and protected-span (URL, e-mail, number, code) patterns.
- ``script`` / ``language``: per-text script and language detection.
- ``normalize``: NFC, look-alike repair, invisible characters, quotes and dashes.
- ``translit`` / ``latin_to_cyrillic``: transliteration both ways; ``accuracy``
  measures it by round trip.
- ``sentences``, ``docx_reader``, ``extract``: documents to sentence-per-line text.
- ``minhash``, ``dedup``: exact and near-duplicate removal.
- ``tabular``: CSV/TSV/JSON/Parquet/datasets to kazft JSONL.
- ``stats``, ``fertility``, ``plots``: dataset statistics and PNG charts.
- ``records``, ``output``, ``progress``: streaming input, atomic output, progress/summaries.
"""
