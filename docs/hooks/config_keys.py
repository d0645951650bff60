"""MkDocs hook: the config reference page's table, generated from the parser train.py uses
(``nst.runs.reference``), so the page cannot drift from the code. The page
(``docs/reference/config.md``) holds the marker ``<!-- config-keys -->`` where the table goes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- config-keys -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from nst.runs.reference import config_keys, markdown_sections

    return markdown.replace(MARKER, markdown_sections(config_keys()))
