"""What is reused is verified: checkpoints against the checksum recorded when they were written, corpora against
their manifests, a read-only cache read as it is, and files written atomically by concurrent writers."""

import hashlib
import json
import multiprocessing
import os
import zipfile

import pytest
import torch

from ftscope.data import corpora
from ftscope.data.corpora import DamagedData, MissingData, load_corpus
from ftscope.paths import Project, sha256_file, write_atomic
from ftscope.train import checkpoints
from ftscope.train.checkpoints import ReadOnlyCache, cached_state, describe_path


def _build(calls):
    def train():
        calls.append(1)
        return {"model": {"w": torch.arange(64, dtype=torch.float32).reshape(8, 8)}, "log": [1.0]}
    return train


def _one(tmp_path, calls, lines=None):
    return cached_state("toy", {"a": 1}, _build(calls), project=Project(tmp_path),
                        echo=(lines.append if lines is not None else lambda _: None))


def _pt(tmp_path):
    (path,) = (tmp_path / "cache" / "checkpoints").glob("toy-*.pt")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_checkpoint_records_its_checksum_and_is_reused_when_it_matches(cache, monkeypatch):
    calls = []
    _one(cache, calls)
    meta = json.loads(describe_path(_pt(cache)).read_text())
    assert meta["sha256"] == sha256_file(_pt(cache)) and meta["finite"] is True
    mask = os.umask(0)
    os.umask(mask)
    assert _pt(cache).stat().st_mode & 0o777 == 0o666 & ~mask  # the mode a plain open() gives, not tempfile's 0600
    hashed = []
    real = checkpoints.sha256_file
    monkeypatch.setattr(checkpoints, "sha256_file", lambda p: hashed.append(p) or real(p))
    state, cached = _one(cache, calls)
    assert cached and len(calls) == 1 and torch.equal(state["model"]["w"], torch.arange(64.0).reshape(8, 8))
    assert len(hashed) == 1  # read once to verify, not once more after loading


def _overwrite_tensor_with_nan(path):
    """Rewrite the tensor's bytes inside the zip (its structure intact), as a damaged disk or a stray write would."""
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i.filename) for i in z.infolist()}
    data = next(k for k in members if "/data/" in k)
    members[data] = torch.full((64,), float("nan")).numpy().tobytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def test_a_tensor_overwritten_inside_the_checkpoint_is_moved_aside_and_rebuilt(cache):
    calls, lines = [], []
    _one(cache, calls)
    path = _pt(cache)
    _overwrite_tensor_with_nan(path)
    checkpoints.TOUCHED.clear()  # a later run of the chapter
    assert torch.isnan(torch.load(path, weights_only=False)["model"]["w"]).all()  # it still loads
    state, cached = _one(cache, calls, lines)
    assert not cached and len(calls) == 2 and bool(torch.isfinite(state["model"]["w"]).all())
    assert any("SHA-256 differs" in line and "rebuilding" in line for line in lines)
    assert list(path.parent.glob(path.name + ".corrupt-*"))
    assert checkpoints.TOUCHED.get(path.name) == "rebuilt"


def test_flipped_bytes_and_a_file_without_a_checksum_are_rebuilt_never_trusted(cache):
    calls, lines = [], []
    _one(cache, calls)
    path = _pt(cache)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2: len(blob) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(blob))
    _one(cache, calls, lines)
    assert len(calls) == 2
    describe_path(path).unlink()  # a checkpoint whose record is lost
    _one(cache, calls, lines)
    assert len(calls) == 3 and any("no readable record of its checksum" in line for line in lines)


def test_non_finite_tensors_where_the_builder_saved_finite_ones_are_rebuilt(cache):
    calls = []
    _one(cache, calls)
    path = _pt(cache)
    state = torch.load(path, weights_only=False)
    state["model"]["w"][0, 0] = float("inf")
    torch.save(state, path)
    meta = json.loads(describe_path(path).read_text())  # a checksum that matches the damaged file
    describe_path(path).write_text(json.dumps({**meta, "sha256": sha256_file(path)}))
    _, cached = _one(cache, calls)
    assert not cached and len(calls) == 2


def test_the_runner_hears_each_checkpoint_event(cache, monkeypatch):
    events = cache / "events"
    monkeypatch.setenv(checkpoints.EVENTS, str(events))
    calls = []
    _one(cache, calls)
    _one(cache, calls)
    assert [line.split()[0] for line in events.read_text().splitlines()] == ["built", "read"]


def _read_only(monkeypatch, folder):
    """Every open for writing, mkdir, replace and temporary file under ``folder`` fails as on a read-only mount."""
    real_open, real_mkdir, real_replace, real_mkstemp = open, os.mkdir, os.replace, checkpoints.tempfile.mkstemp
    denied = OSError(30, "Read-only file system")

    def inside(p):
        return str(os.fspath(p)).startswith(str(folder))

    def fake_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            raise denied
        return real_open(file, mode, *args, **kwargs)

    def fake_mkdir(p, *args, **kwargs):
        if inside(p) and not os.path.isdir(p):
            raise denied
        return real_mkdir(p, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(denied) if inside(b) else real_replace(a, b))
    monkeypatch.setattr(checkpoints.tempfile, "mkstemp",
                        lambda *a, dir=None, **k: (_ for _ in ()).throw(denied) if inside(dir) else real_mkstemp(*a, dir=dir, **k))


def test_a_read_only_cache_that_holds_the_checkpoint_is_read(cache, monkeypatch):
    calls = []
    _one(cache, calls)
    _pt(cache).with_suffix(".lock").unlink()
    _read_only(monkeypatch, cache / "cache")
    state, cached = _one(cache, calls)
    assert cached and len(calls) == 1 and state["log"] == [1.0]


def test_training_into_a_read_only_cache_names_ftscope_cache(cache, monkeypatch):
    (cache / "cache" / "checkpoints").mkdir(parents=True)
    _read_only(monkeypatch, cache / "cache")
    with pytest.raises(ReadOnlyCache, match="FTSCOPE_CACHE"):
        _one(cache, [])


# ------------------------------------------------------------------------- corpora
def _corpus(project, name="lua", lines=3):
    folder = project.data / name
    folder.mkdir(parents=True)
    text = "".join(json.dumps({"id": f"{name}/{i}", "source": "t", "text": f"doc {i}"}) + "\n" for i in range(lines))
    (folder / "docs.jsonl").write_text(text)
    (folder / "manifest.json").write_text(json.dumps({"docs": "docs.jsonl",
                                                      "docs_sha256": hashlib.sha256(text.encode()).hexdigest()}))
    return folder / "docs.jsonl"


def test_an_edited_corpus_is_refused_naming_it_and_the_command_that_rebuilds_it(tmp_path):
    project = Project(tmp_path)
    docs = _corpus(project)
    assert len(load_corpus("lua", project=project)) == 3
    docs.write_text(docs.read_text().replace("doc 1", "doc X"))
    with pytest.raises(DamagedData, match=r"corpus 'lua'.*ftscope data fetch --only lua --force"):
        load_corpus("lua", project=project)


def test_a_truncated_corpus_names_its_file_not_a_bare_json_error(tmp_path):
    project = Project(tmp_path)
    docs = _corpus(project)
    cut = docs.read_bytes()[:-10]
    docs.write_bytes(cut)
    with pytest.raises(DamagedData, match="data/lua/docs.jsonl"):
        load_corpus("lua", project=project)
    manifest = json.loads((docs.parent / "manifest.json").read_text())  # the manifest rewritten to match it
    (docs.parent / "manifest.json").write_text(json.dumps({**manifest, "docs_sha256": hashlib.sha256(cut).hexdigest()}))
    with pytest.raises(DamagedData, match=r"data/lua/docs.jsonl, line 3"):
        load_corpus("lua", project=project)


def test_smoke_runs_read_the_fixture_whether_or_not_the_corpus_was_fetched(tmp_path):
    project = Project(tmp_path)
    _corpus(project)
    corpora.READ.clear()
    fixture = load_corpus("lua", project=project, fixture=True)
    assert all(d.id.startswith("fixtures/lua/") for d in fixture) and corpora.READ.get("lua") == "fixture"
    with pytest.raises(MissingData, match="make data"):
        load_corpus("english", project=project)


# ------------------------------------------------------------------------- atomic writes
def _writer(path, k, start, failures):
    start.wait()
    for i in range(1000):
        try:
            write_atomic(path, f"{k}-{i}\n" * 50)
        except OSError:
            failures[k] += 1


def test_concurrent_atomic_writes_never_fail_nor_leave_a_half_file(tmp_path):
    path = tmp_path / "out" / "result.json"
    ctx = multiprocessing.get_context("fork")
    start, failures = ctx.Event(), ctx.Array("i", 2)
    writers = [ctx.Process(target=_writer, args=(path, k, start, failures)) for k in (0, 1)]
    for w in writers:
        w.start()
    start.set()  # both write at once
    for w in writers:
        w.join()
    assert list(failures) == [0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 50 and len(set(lines)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]
