"""The paper's own derived sets on the Hugging Face hub, read when the hub is reachable (issue 18's hub path).

``xiaozeroone/pubmed_derived`` holds five splits (``pubmed``, ``nonbiomedical``, ``counterfactual``,
``casual``, ``rap``), one parquet file each under ``data/`` (``<split>-00000-of-00001-<hash>.parquet``) with
a ``text`` column; ``xiaozeroone/c4_derived``'s split names were not found offline, so they are read from
its file names and mapped to this book's variant names by the words they contain.

- ``derived_texts``: every split's texts, keyed by the book's variant names (``orig`` for the originals).
"""

from __future__ import annotations

import re
from collections.abc import Callable

REPOS = {"pubmed": "xiaozeroone/pubmed_derived", "c4": "xiaozeroone/c4_derived"}
#: a split's name on the hub -> the book's variant (``decompose.CONTRASTS``); checked in this order
NAMES = (("counterfactual", "counterfactual"), ("nonbiomedical", "nontopic"), ("casual", "casual"), ("rap", "rap"),
         ("pubmed", "orig"), ("biomedical", "bio"), ("bio", "bio"), ("academic", "academic"), ("c4", "orig"))
FILE = re.compile(r"^data/(?P<split>[A-Za-z0-9_]+)-\d{5}-of-\d{5}(-[0-9a-f]+)?\.parquet$")


def variant_name(split: str) -> str | None:
    """The book's variant for a hub split's name (None when no rule fits)."""
    for word, variant in NAMES:
        if word in split.lower():
            return variant
    return None


def derived_texts(analog: str, *, list_files: Callable | None = None, download: Callable | None = None,
                  ) -> dict[str, list[str]]:
    """``{variant: [text, ...]}`` of ``analog``'s derived set on the hub (``list_files(repo, repo_type=...)``
    and ``download(repo, filename, repo_type=...)`` default to ``huggingface_hub``'s). A split no rule maps is
    an error naming it, not a silent drop; raises when the hub cannot be reached."""
    import pandas as pd

    if analog not in REPOS:
        raise ValueError(f"unknown analog {analog!r}; valid choices: {', '.join(map(repr, REPOS))}")
    if list_files is None or download is None:
        from huggingface_hub import hf_hub_download, list_repo_files

        list_files, download = list_files or list_repo_files, download or hf_hub_download
    repo = REPOS[analog]
    out: dict[str, list[str]] = {}
    for name in sorted(list_files(repo, repo_type="dataset")):
        m = FILE.match(name)
        if not m:
            continue
        variant = variant_name(m["split"])
        if variant is None:
            raise ValueError(f"{repo}: split {m['split']!r} matches none of the book's variants "
                             f"({', '.join(sorted({v for _, v in NAMES}))})")
        frame = pd.read_parquet(download(repo, name, repo_type="dataset"))
        out.setdefault(variant, []).extend(frame["text"].astype(str).tolist())
    if "orig" not in out:
        raise ValueError(f"{repo}: no split of original documents among {sorted(out)}")
    return out
