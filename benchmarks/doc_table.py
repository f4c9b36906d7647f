"""Write a benchmark's markdown table into a doc between its markers.

``<!-- NAME:begin ... -->`` (the begin comment may say what writes it) and
``<!-- NAME:end -->``; everything between them is replaced.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def write_marked_table(doc: Path, marker: str, text: str) -> bool:
    """Replace the text between ``marker``'s begin/end comments in ``doc``; False (and a
    warning) when the doc has no such markers."""
    begin, end = f"<!-- {marker}:begin", f"<!-- {marker}:end -->"
    src = doc.read_text()
    a, b = src.find(begin), src.find(end)
    if a < 0 or b < a:
        log.warning("%s has no %s markers; table not written", doc, marker)
        return False
    head = src[a:src.index("-->", a) + 3]
    doc.write_text(src[:a] + head + "\n" + text + "\n" + src[b:])
    return True


def publish(result: dict, json_path: Path | None, text: str, doc: Path | None, marker: str) -> None:
    """A benchmark's epilogue: its table on stdout, with ``json_path`` the result as
    JSON there and, with ``doc``, the table between ``marker``'s comments there."""
    print(text)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    if doc:
        write_marked_table(doc, marker, text)
