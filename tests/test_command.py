"""The ``ftscope`` command as a user meets it: every subcommand's help, a reader that stops early, the data
commands' refusals, the leftovers of killed runs, and the ranges every chapter's settings are checked against."""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from ftscope.book import runner
from ftscope.book.cli import _parser, main
from ftscope.book.report import status_report
from ftscope.config import ConfigError, parse_value
from ftscope.data import corpus_state
from ftscope.paths import Project


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sub))


def test_every_subcommand_repeats_its_description_and_every_option_has_help():
    listed = {a.dest: a.help for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
              for a in action._choices_actions}
    for name, sub in _subparsers(_parser()):
        if name == "sweep":  # its help is ftscope.sweep's own
            continue
        assert sub.description, f"`ftscope {name} --help` says nothing of what it does"
        if name in listed:
            assert sub.description.lower().startswith(listed[name][:20].lower())
        for action in sub._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                assert action.help, f"`ftscope {name}` option {action.option_strings or action.dest} has no help"


def test_status_into_a_reader_that_stops_early_raises_nothing(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m ftscope status | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "FTSCOPE_ROOT": str(tmp_path)})
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    (tmp_path / "notebooks").mkdir()
    for i in range(400):  # enough output to fill the pipe
        (tmp_path / "notebooks" / f"n{i:03d}.py").write_text("")
    (tmp_path / "results" / "smoke").mkdir(parents=True)
    for i in range(400):
        (tmp_path / "results" / "smoke" / f"n{i:03d}.failed.ipynb").write_text("{}")
    proc = subprocess.run(f"{sys.executable} -m ftscope status | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "FTSCOPE_ROOT": str(tmp_path)})
    assert proc.stdout.startswith("notebook") and "Error" not in proc.stderr, proc.stderr


def test_fetch_refuses_a_story_count_below_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FTSCOPE_ROOT", str(tmp_path))
    assert main(["data", "fetch", "--only", "stories", "--n-stories", "-5"]) == 1
    assert "at least one story" in capsys.readouterr().err
    assert not (tmp_path / "data" / "stories").exists()


def test_verify_tells_a_missing_corpus_from_a_changed_one(tmp_path, capsys, monkeypatch):
    project = Project(tmp_path)
    folder = project.data / "lua"
    folder.mkdir(parents=True)
    docs = json.dumps({"id": "lua/0", "source": "t", "text": "x"}) + "\n"
    (folder / "docs.jsonl").write_text(docs)
    (folder / "files.tsv").write_text("")
    (folder / "manifest.json").write_text(json.dumps({"docs": "docs.jsonl", "files": "files.tsv", "file_count": 0,
                                                      "docs_sha256": hashlib.sha256(docs.encode()).hexdigest(),
                                                      "sha256": "0"}))
    assert corpus_state(project, "english") == "missing" and corpus_state(project, "lua") == "changed"
    (folder / "docs.jsonl").unlink()
    assert corpus_state(project, "lua") == "missing"
    monkeypatch.setenv("FTSCOPE_ROOT", str(tmp_path))
    assert main(["data", "verify"]) == 1
    out = capsys.readouterr().out
    assert "english  MISSING" in out and "CHANGED" not in out
    (folder / "docs.jsonl").write_text(docs.replace("x", "y"))
    main(["data", "verify"])
    assert "lua      CHANGED" in capsys.readouterr().out


def test_clean_cache_removes_what_killed_runs_left_and_nothing_in_use(tmp_path, monkeypatch):
    project = Project(tmp_path)
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    ckpts = tmp_path / "cache" / "checkpoints"
    ckpts.mkdir(parents=True)
    keep = [ckpts / "a-1.pt", ckpts / "a-1.json", ckpts / "b-2.pt.x1.tmp"]  # the last: a save in progress
    gone = [ckpts / "a-0.pt.corrupt-20261207T000000", tmp_path / "results" / "smoke" / "x.json.corrupt-1",
            ckpts / "c-3.pt.y2.tmp"]
    for p in keep + gone:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    old = time.time() - 2 * runner.STALE_TEMP_S
    os.utime(ckpts / "c-3.pt.y2.tmp", (old, old))
    live, dead = tmp_path / "tmp" / "ftscope-live-1", tmp_path / "tmp" / "ftscope-dead-2"
    for folder, pid in ((live, os.getpid()), (dead, 2**22 + 12345)):
        folder.mkdir(parents=True)
        (folder / runner.OWNER).write_text(str(pid))
    lines = []
    status_report(project, "smoke", echo=lines.append)
    assert "2 damaged file(s) set aside and 2 leftover(s) of interrupted runs" in lines[-1]
    assert "ftscope clean-cache" in lines[-1] and all(p.exists() for p in gone)  # status only reports
    runner.clean_cache(project, echo=lines.append)
    assert not any(p.exists() for p in gone) and not dead.exists()
    assert all(p.exists() for p in keep) and live.exists()
    assert runner.leftovers_line(project) == ""


@pytest.mark.parametrize("text", ["[1,2", "1e-", "two words"])
def test_a_malformed_value_is_an_error_not_a_string(text):
    with pytest.raises(ConfigError, match="neither a Python literal"):
        parse_value(text)
    assert parse_value("hub") == "hub" and parse_value("[1, 2]") == [1, 2]


@pytest.mark.parametrize("overrides, message", [
    (dict(pretrain_steps=0), "pretrain_steps=0: a step count must be at least 1"),
    (dict(ft_steps=-5), "a step count must be at least 1"),
    (dict(ft_lrs=(1e-4, 0.0, 1e-6)), "a learning rate must be above 0"),
    (dict(max_lr_share=1.5), "a share must be at least 0 and at most 1"),
    (dict(ft_seeds=0), "a number of seeds must be at least 1"),
    (dict(probe_batch=0), "a batch size must be at least 1"),
])
def test_configs_check_ranges(overrides, message):
    from ftscope.jain import PcfgConfig

    with pytest.raises(ConfigError, match=message):
        PcfgConfig.from_preset("smoke", **overrides)


def test_a_seed_fits_numpy_and_zero_steps_means_derived_only_where_a_config_says_so():
    from ftscope.horn import HornConfig
    from ftscope.synthesis.settings import LensesConfig

    with pytest.raises(ConfigError, match=r"sae_seed=4294967296: a seed must be at least 0 and at most 4294967295"):
        LensesConfig.from_preset("smoke", sae_seed=2**32)
    assert HornConfig.from_preset("paper").base_steps == 0  # three epochs, by the card
    with pytest.raises(ConfigError, match="ft_warmup_steps=0"):
        HornConfig.from_preset("smoke", ft_warmup_steps=0)
