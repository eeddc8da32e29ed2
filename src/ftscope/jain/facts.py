"""Named numbers a chapter's prose cites: the analyses return them as dicts (``facts``), the chapter
glues them all at once, and its claims read the same dict."""

from __future__ import annotations


def glue_all(ch, facts: dict) -> dict:
    """Glue every named number of ``facts`` on the chapter ``ch`` (``{glue:text}`name``` in the prose);
    returns ``facts``."""
    for name, value in facts.items():
        ch.glue(name, value)
    return facts
