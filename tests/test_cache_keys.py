"""Honest caches: a checkpoint's key changes with every input of its builder (the config fields it
reads, the constants and code it reaches, the base it starts from) and with nothing else; a corrupt
checkpoint or results file is rebuilt; two processes never train the same checkpoint twice."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ftscope import horn
from ftscope.book import runner
from ftscope.config import ConfigError
from ftscope.horn import training as horn_training
from ftscope.horn.setup import HornConfig
from ftscope.jain import pcfg_training
from ftscope.jain.pcfg_training import PcfgConfig
from ftscope.paths import Project, sha256_file
from ftscope.train import checkpoints
from ftscope.train.checkpoints import cached_state, checkpoint_path, code_parts, spec_hash


def recording(cfg):
    """A copy of ``cfg`` that records which of its fields are read, and the set they go into."""
    reads, fields = set(), set(cfg.field_names())

    class Recording(type(cfg)):
        def __getattribute__(self, name):
            if name in fields:
                reads.add(name)
            return object.__getattribute__(self, name)

    copy = Recording(**cfg.to_dict())
    reads.clear()  # construction reads every field
    return copy, reads


def perturbed(cfg, field):
    """``cfg`` with ``field`` changed to another valid value."""
    value = getattr(cfg, field)
    if isinstance(value, bool):
        candidates = [not value]
    elif isinstance(value, int):
        candidates = [value * 2, value + 1, max(1, value - 1)]
    elif isinstance(value, float):
        candidates = [value * 0.5 + 1e-3, value * 1.5 + 1e-3]
    elif isinstance(value, tuple) and all(isinstance(v, float) for v in value):
        candidates = [tuple(v * 0.5 for v in value)]
    else:
        candidates = []
    for candidate in candidates:
        try:
            return cfg.replace(**{field: candidate})
        except ConfigError:
            continue
    pytest.fail(f"no other valid value for {field}={value!r}")


def key(cell) -> str:
    return cell.path(Project(Path("/nonexistent"))).name


def assert_every_read_field_is_in_the_key(cfg, make_cell, build_reads):
    """Run the builder with a recording config; every field it reads must change the key."""
    assert build_reads, "the builder read no config field: the recording does not work"
    base_key = key(make_cell(cfg))
    for field in sorted(build_reads):
        assert key(make_cell(perturbed(cfg, field))) != base_key, f"{field} is read by the builder but not in its key"


PCFG = dict(window=16, n_layers=1, n_heads=2, d_model=16, pretrain_steps=3, pretrain_batch=8)


def test_pcfg_pretraining_key_covers_every_field_and_constant_it_reads(monkeypatch):
    cfg = PcfgConfig.from_preset("smoke", **PCFG)
    rec, reads = recording(cfg)
    pcfg_training.pretrain_cell(rec, "low", 0).build()  # every field read making or building the cell
    assert {"pretrain_steps", "d_model", "window", "pretrain_lr", "betas"} <= reads
    assert_every_read_field_is_in_the_key(cfg, lambda c: pcfg_training.pretrain_cell(c, "low", 0), reads)
    # fields the pretraining does not read (fine-tuning, probes) leave its key alone
    same = key(pcfg_training.pretrain_cell(cfg, "low", 0))
    assert key(pcfg_training.pretrain_cell(cfg.replace(ft_steps=7, probe_lr=0.5), "low", 0)) == same
    assert key(pcfg_training.pretrain_cell(cfg, "medium", 0)) != same
    assert key(pcfg_training.pretrain_cell(cfg, "low", 1)) != same
    # a constant the builder reaches (the grammar's terminals), and an analysis it does not
    monkeypatch.setattr("ftscope.jain.pcfg.TERMINALS", ("a", "b", "d"))
    assert key(pcfg_training.pretrain_cell(cfg, "low", 0)) != same
    monkeypatch.undo()
    monkeypatch.setattr("ftscope.jain.figures.table3", lambda *a: None)
    assert key(pcfg_training.pretrain_cell(cfg, "low", 0)) == same


@pytest.fixture(scope="module")
def horn_setup(tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("horn"))
    cfg = HornConfig.from_preset("smoke", corpus_chars=20_000, tokenizer_chars=10_000, vocab_size=300, d_model=16,
                                 d_mlp=32, n_heads=2, n_kv_heads=1, d_head=8, n_ctx=16, base_steps=2, ft_steps=2,
                                 base_batch=2, ft_batch=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTSCOPE_CACHE", str(project.root / "cache"))
        corpora = horn.load_corpora(cfg, project)
    return cfg, corpora


def test_horn_base_key_covers_its_fields_and_corpora(horn_setup, monkeypatch):
    cfg, corpora = horn_setup
    rec, reads = recording(cfg)
    horn_training.base_cell(rec, corpora, 0).build()  # every field read making or building the cell
    assert {"base_lr", "base_batch", "n_ctx", "d_model"} <= reads
    assert_every_read_field_is_in_the_key(cfg, lambda c: horn_training.base_cell(c, corpora, 0), reads)
    same = key(horn_training.base_cell(cfg, corpora, 0))
    assert key(horn_training.base_cell(cfg.replace(ft_lr=0.5, sae_l1=9.0), corpora, 0)) == same
    # the corpora the base trains on (the stale-checkpoint bug of the hand-written key)
    monkeypatch.setattr(horn_training, "BASE_CORPORA", ("english",))
    assert key(horn_training.base_cell(cfg, corpora, 0)) != same


def test_horn_finetune_key_follows_its_base(horn_setup):
    cfg, corpora = horn_setup
    same = key(horn_training.finetune_cell(cfg, corpora, "lua", 0))
    assert key(horn_training.finetune_cell(cfg, corpora, "stories", 0)) != same
    assert key(horn_training.finetune_cell(cfg.replace(ft_lr=0.5), corpora, "lua", 0)) != same
    assert key(horn_training.finetune_cell(cfg.replace(base_lr=0.5), corpora, "lua", 0)) != same
    assert key(horn_training.finetune_cell(cfg.replace(base_wd=0.5), corpora, "lua", 0)) != same


def test_key_covers_library_versions(monkeypatch):
    before = spec_hash({"a": 1})
    monkeypatch.setattr("ftscope.train.checkpoints.library_versions", lambda: {"torch": "0.0"})
    assert spec_hash({"a": 1}) != before


def test_code_parts_are_stable_and_reach_closures_and_constants():
    cfg = PcfgConfig.from_preset("smoke", **PCFG)
    cell = pcfg_training.pretrain_cell(cfg, "low", 0)
    parts = dict(code_parts(cell.build))
    assert "function ftscope.jain.pcfg_training._pretrain" in parts  # through the lambda's globals
    assert "class ftscope.jain.pcfg_training.PcfgConfig" in parts  # through the closure's config
    assert "module ftscope.train.models" in parts and "constant ftscope.jain.pcfg.TERMINALS" in parts
    assert not any(p.startswith(("module ftscope.book", "module ftscope.jain.figures")) for p in parts)
    code = ("import sys; sys.path[:0] = ['tests']; from test_cache_keys import PCFG; "
            "from ftscope.jain.pcfg_training import PcfgConfig, pretrain_cell; "
            "print(pretrain_cell(PcfgConfig.from_preset('smoke', **PCFG), 'low', 0).spec_key())")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(s), "PATH": ""}).stdout for s in (1, 2)}
    assert seen == {cell.spec_key() + "\n"}


def test_a_corrupt_checkpoint_is_reported_moved_aside_and_rebuilt(tmp_path):
    project = Project(tmp_path)
    calls, lines = [], []

    def build():
        calls.append(1)
        return {"w": torch.arange(3.0)}

    path = checkpoint_path("toy", {"a": 1}, project=project, train_fn=build)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    state, cached = cached_state("toy", {"a": 1}, build, project=project, echo=lines.append)
    assert not cached and calls == [1] and torch.equal(state["w"], torch.arange(3.0))
    assert any("no readable record of its checksum" in ln and "rebuilding" in ln for ln in lines)
    assert len(list(path.parent.glob(path.name + ".corrupt-*"))) == 1
    meta = json.loads(path.with_suffix(".json").read_text())  # a file that matches its checksum but cannot load
    path.write_bytes(b"PK\x03\x04 truncated")
    path.with_suffix(".json").write_text(json.dumps({**meta, "sha256": sha256_file(path)}))
    state, cached = cached_state("toy", {"a": 1}, build, project=project, echo=lines.append)
    assert not cached and calls == [1, 1]
    assert any("unreadable" in ln and "rebuilding" in ln for ln in lines)
    calls.pop()
    state, cached = cached_state("toy", {"a": 1}, build, project=project, echo=lines.append)
    assert cached and calls == [1]
    assert not list(path.parent.glob("*.tmp"))


def test_two_processes_build_one_checkpoint_once(tmp_path):
    script = textwrap.dedent(f"""
        import time, torch
        from pathlib import Path
        from ftscope.paths import Project
        from ftscope.train.checkpoints import cached_state
        def build():
            with open({str(tmp_path / 'calls')!r}, 'a') as f:
                f.write('x')
            time.sleep(1.0)
            return {{'w': torch.ones(2)}}
        state, cached = cached_state('shared', {{'k': 1}}, build, project=Project(Path({str(tmp_path)!r})),
                                     echo=lambda *_: None)
        print(cached, state['w'].tolist())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert (tmp_path / "calls").read_text() == "x"  # trained once
    assert outs == ["False [1.0, 1.0]", "True [1.0, 1.0]"]


def test_a_corrupt_results_file_is_moved_aside_and_the_notebook_runs_again(tmp_path):
    project = Project(tmp_path)
    path = runner.result_path(project, "smoke", "toy")
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": 1, "claims": [')
    lines = []
    assert runner.load_result(project, "smoke", "toy", echo=lines.append) is None
    assert not path.exists() and len(list(path.parent.glob("toy.json.corrupt-*"))) == 1
    assert "unreadable" in lines[0]
    path.write_text(json.dumps({"ok": 1}))  # valid JSON, not a results file
    assert runner.load_result(project, "smoke", "toy", echo=lines.append) is None
    assert "not a results file" in lines[1] and len(list(path.parent.glob("toy.json.corrupt-*"))) >= 1


def test_a_cell_builds_once_and_its_key_follows_its_dependencies(tmp_path):
    from ftscope.train.cells import Cell

    project, built = Project(tmp_path), []
    base = Cell("base", {"lr": 1.0}, lambda: built.append("base") or {"w": torch.zeros(1)})
    ft = Cell("ft", {"lr": 0.1}, lambda: built.append("ft") or {"w": base.get(project)[0]["w"] + 1}, deps=(base,))
    assert not ft.is_cached(project)
    state, cached = ft.get(project, echo=lambda *_: None)
    assert not cached and built == ["ft", "base"] and state["w"].item() == 1.0
    assert ft.is_cached(project) and base.is_cached(project)
    assert ft.get(project, echo=lambda *_: None)[1] and built == ["ft", "base"]
    other_base = Cell("base", {"lr": 2.0}, base.build)
    moved = Cell("ft", {"lr": 0.1}, ft.build, deps=(other_base,))
    assert moved.path(project) != ft.path(project) and moved.spec_key() == ft.spec_key()


# ------------------------------------------------------------------------- one cache for every clone
def test_the_cache_lies_outside_the_clone(tmp_path, monkeypatch):
    from ftscope.paths import default_cache

    monkeypatch.delenv("FTSCOPE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Project(tmp_path / "clone").cache == tmp_path / "home" / ".cache" / "ftscope"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache() == tmp_path / "xdg" / "ftscope"
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "mine"))
    assert Project(tmp_path / "clone").cache == tmp_path / "mine"


def _clone_builder(root: Path, value: float):
    """The builder of one clone's checkout: the same module of ``ftscope``, with that clone's code."""
    import importlib.util

    path = root / "src" / "ftscope" / "clone_cell.py"
    path.parent.mkdir(parents=True)
    path.write_text(f"import torch\n\n\ndef build():\n    return {{'w': torch.tensor({value})}}\n")
    spec = importlib.util.spec_from_file_location("ftscope.clone_cell", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


def test_two_clones_with_different_code_share_one_cache_and_each_gets_its_own_cell(tmp_path, monkeypatch):
    from ftscope.train.cells import Cell

    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "shared"))
    a, b = Project(tmp_path / "a"), Project(tmp_path / "b")
    cell_a = Cell("clone-cell", {"steps": 1}, _clone_builder(a.root, 1.0))
    cell_b = Cell("clone-cell", {"steps": 1}, _clone_builder(b.root, 2.0))
    assert a.cache == b.cache == tmp_path / "shared"
    assert cell_a.path(a) != cell_b.path(b)  # same name and spec, other code: another key
    (state_a, cached_a), (state_b, cached_b) = cell_a.get(a, echo=lambda *_: None), cell_b.get(b, echo=lambda *_: None)
    assert not cached_a and not cached_b and state_a["w"].item() == 1.0 and state_b["w"].item() == 2.0
    assert len(list((tmp_path / "shared" / "checkpoints").glob("clone-cell-*.pt"))) == 2
    again, cached = cell_a.get(a, echo=lambda *_: None)  # each clone reads back its own cell
    assert cached and again["w"].item() == 1.0


def test_what_a_process_did_never_enters_a_cell_key():
    from ftscope.data import corpora

    before = code_parts(corpora.corpus_manifest, checkpoints.cached_state)
    corpora.READ.note("a-corpus", "manifest")
    checkpoints.TOUCHED.note("a-cell.pt", "built")
    try:
        assert code_parts(corpora.corpus_manifest, checkpoints.cached_state) == before
    finally:
        corpora.READ.clear()
        checkpoints.TOUCHED.clear()
