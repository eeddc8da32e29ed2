"""Gluing numbers into the Part III chapters' prose: the config's, the paper's and ours."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def glue_all(ch, values: Mapping[str, Any]) -> None:
    """``ch.glue(name, value)`` for each item, for ``{glue:text}`name``` in the markdown."""
    for name, value in values.items():
        ch.glue(name, value)


def glue_config(ch, cfg, names: Iterable[str], prefix: str = "") -> None:
    """Glue config fields (or properties) under their own names, with an optional ``prefix``
    (``paper_`` for the paper's settings, ``reported.paper_config()``)."""
    glue_all(ch, {prefix + name: getattr(cfg, name) for name in names})
