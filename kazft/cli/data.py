"""``kazft data ...``: data checks (recipe pipeline) and Kazakh text tools."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

# Modules that add verbs under `kazft data`; each exposes register_verbs(subparsers).
VERB_MODULES = ["kazft.cli.data_text", "kazft.cli.data_check"]


def register(sub: Any, name: str, help_text: str) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in VERB_MODULES:
        importlib.import_module(module).register_verbs(verbs)
