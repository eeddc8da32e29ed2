"""The runner end to end on the fixture notebook, at `smoke`: cache, failures, bad input."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from ftscope.book import runner
from ftscope.book.claims import validate_result
from ftscope.book.report import build, claims_report, status_report, write_generated
from ftscope.config import ConfigError


def quiet(*_):
    pass


def run(project, **kw):
    kw.setdefault("preset", "smoke")
    kw.setdefault("device", "cpu")
    return runner.run(project, ["toy_chapter"], echo=quiet, **kw)


def result(project, preset="smoke"):
    return json.loads((project.results(preset) / "toy_chapter.json").read_text())


def test_run_cache_hit_miss_and_determinism(toy_project):
    [first] = run(toy_project)
    assert first.status == "executed", first.error
    doc = result(toy_project)
    validate_result(doc)
    assert doc["device"] == "cpu" and doc["run"]["duration_s"] > 0
    assert [c["id"] for c in doc["claims"]] == ["toy_final_loss"]
    assert doc["claims"][0]["verdict"] == "reproduced"
    assert (toy_project.chapters / "toy_chapter.ipynb").exists()

    # nothing changed: cache hit, no execution
    [again] = run(toy_project)
    assert again.status == "cached"
    assert runner.state(toy_project, "smoke", "toy_chapter") == "fresh"

    # the inputs are what the kernel imported: the notebook, the ftscope modules, nothing else of the tree
    inputs = doc["run"]["inputs"]
    assert "notebooks/toy_chapter.py" in inputs and "src/ftscope/train/loop.py" in inputs
    assert "src/ftscope/book/probe.py" not in inputs and not any("/horn/" in k for k in inputs)
    assert doc["run"]["machine"]["torch"]["threads"] >= 1 and doc["run"]["machine"]["cpu"]["model"]
    assert [c["first_line"] for c in doc["run"]["cells"]][-1].startswith("ch.claim(")  # the probe cell is gone
    assert "ftscope-probe" not in (toy_project.results("smoke") / "toy_chapter.ipynb").read_text()

    # a module it does not import changed (another chapter's package): still fresh
    (toy_project.root / "src" / "ftscope" / "horn" / "claims.py").open("a").write("\n# an edit\n")
    assert runner.state(toy_project, "smoke", "toy_chapter") == "fresh"
    # a module it imports changed: the notebook re-runs
    (toy_project.root / "src" / "ftscope" / "train" / "loop.py").open("a").write("\n# an edit\n")
    assert runner.state(toy_project, "smoke", "toy_chapter") == "stale"
    [edited] = run(toy_project)
    assert edited.status == "executed"

    # other parameters are another cache entry; --force re-runs; same seed → identical claims
    [forced] = run(toy_project, force=True)
    assert forced.status == "executed"
    assert result(toy_project)["claims"] == doc["claims"]
    [other_seed] = run(toy_project, seed=1)
    assert other_seed.status == "executed"
    assert result(toy_project)["claims"][0]["ours"] != doc["claims"][0]["ours"]

    # the scorecard and status read the results
    lines = []
    assert claims_report(toy_project, "smoke", strict=True, echo=lines.append) == 0
    assert any("toy_final_loss" in line and "reproduced" in line for line in lines)
    lines = []
    status_report(toy_project, "smoke", echo=lines.append)
    assert any(line.startswith("toy_chapter") and "fresh" in line for line in lines)

    # the book's generated tables: every claim with its verdict and a link to its chapter
    write_generated(toy_project, "smoke")
    scorecard = (toy_project.generated / "scorecard.md").read_text()
    assert "<code>toy_final_loss</code>" in scorecard and '<span class="sc-badge sc-reproduced">reproduced' in scorecard
    assert '<a href="chapters/toy_chapter.html">' in scorecard
    assert "1 claims of the papers, 1 reproduced, 0 not reproduced, 0 inconclusive, 0 failed; 0 fragile" in scorecard
    assert '<a class="sc-badge sc-reproduced" href="#sc-toy_chapter">1 reproduced</a>' in scorecard
    status = (toy_project.generated / "status.md").read_text()
    row = re.search(r'<tr><td><a href="chapters/toy_chapter.html">toy_chapter</a></td>(.*?)</tr>', status).group(1)
    assert row.startswith("<td>cpu</td>") and row.endswith("<td>fresh</td>") and "thr" in row
    assert "Preset **smoke**, from this checkout's last run" in status


def test_failure_keeps_the_last_good_result(toy_project):
    assert run(toy_project)[0].status == "executed"
    good = result(toy_project)
    nb = toy_project.notebooks / "toy_chapter.py"
    nb.write_text(nb.read_text().replace("ch.finish()", "raise RuntimeError('boom in the last cell')"))
    [failed] = run(toy_project)
    assert failed.status == "failed"
    assert "RuntimeError: boom in the last cell" in failed.error
    assert result(toy_project) == good
    assert (toy_project.results("smoke") / "toy_chapter.ipynb").exists()
    assert (toy_project.results("smoke") / "toy_chapter.failed.ipynb").exists()
    assert runner.state(toy_project, "smoke", "toy_chapter") == "stale (last try failed)"


def _no_compute(monkeypatch):
    def no_compute(*a, **k):
        raise AssertionError("executed despite bad overrides")

    monkeypatch.setattr(runner, "execute_one", no_compute)


@pytest.mark.parametrize("overrides, message", [
    ({"stepz": 3}, r"toy_chapter: unknown field of ToyConfig 'stepz'.*'steps'"),
    ({"steps": -5}, r"steps=-5: a step count must be at least 1"),
    ({"lr": "fast"}, r"lr must be a number"),
])
def test_bad_overrides_fail_before_any_compute(toy_project, monkeypatch, overrides, message):
    _no_compute(monkeypatch)
    with pytest.raises(ConfigError, match=message):
        run(toy_project, overrides=overrides)
    assert not toy_project.results("smoke").exists()


def test_bad_overrides_in_a_multi_chapter_run_stop_every_chapter(toy_project, monkeypatch):
    other = toy_project.notebooks / "toy_other.py"
    other.write_text((toy_project.notebooks / "toy_chapter.py").read_text()
                     .replace('"toy_chapter"', '"toy_other"').replace("steps: int = 200", "rounds: int = 200")
                     .replace("steps=40", "rounds=40").replace("steps=80", "rounds=80").replace("cfg.steps", "cfg.rounds"))
    _no_compute(monkeypatch)
    with pytest.raises(ConfigError, match=r"toy_other: unknown field of ToyConfig 'steps'") as err:
        runner.run(toy_project, ["toy_chapter", "toy_other"], preset="smoke", device="cpu", overrides={"steps": 3},
                   echo=quiet)
    assert "toy_chapter:" not in str(err.value)  # the chapter it fits is not named


def test_cli_refuses_bad_overrides_with_exit_2_and_no_kernel(toy_project):
    for value, message in (("nosuchfield=1", "unknown field of ToyConfig 'nosuchfield'"),
                           ("steps=[1,2", "neither a Python literal"), ("steps=0", "at least 1")):
        proc = subprocess.run([sys.executable, "-m", "ftscope", "run", "toy_chapter", "--preset", "smoke",
                               "--set", value], cwd=toy_project.root, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert "executing" not in proc.stdout
    assert not toy_project.results("smoke").exists()


def test_a_run_with_overrides_says_so_and_is_refused_by_build_and_gate(toy_project):
    [done] = run(toy_project, overrides={"steps": 30})
    assert done.status == "executed"
    assert runner.state(toy_project, "smoke", "toy_chapter") == "fresh (with overrides: steps=30)"
    page = (toy_project.results("smoke") / "toy_chapter.ipynb").read_text()
    assert "run with overrides (`steps=30`)" in page
    lines = []
    assert claims_report(toy_project, "smoke", strict=True, echo=lines.append) == 1
    assert any("with overrides: steps=30" in line for line in lines)
    assert any("overrides" in line and "--allow-overrides" in line for line in lines)
    lines = []
    assert build(toy_project, "smoke", echo=lines.append) == 2
    assert any("--allow-overrides" in line for line in lines)
    status = []
    status_report(toy_project, "smoke", echo=status.append)
    assert any("with overrides: steps=30" in line for line in status)


def test_a_result_of_the_wrong_shape_is_moved_aside_by_run_and_left_by_status(toy_project):
    assert run(toy_project)[0].status == "executed"
    path = toy_project.results("smoke") / "toy_chapter.json"
    path.write_text(json.dumps({"notebook": "toy_chapter", "claims": []}))
    lines = []
    status_report(toy_project, "smoke", echo=lines.append)
    assert path.exists() and any("invalid" in line for line in lines)
    assert runner.state(toy_project, "smoke", "toy_chapter") == "invalid"
    assert claims_report(toy_project, "smoke", strict=True, echo=lines.append) == 1  # no traceback, no result
    assert path.exists()
    messages = []
    [again] = runner.run(toy_project, ["toy_chapter"], preset="smoke", device="cpu", echo=messages.append)
    assert again.status == "executed" and validate_result(result(toy_project)) is None
    assert any("not a results file" in m and "moved to" in m for m in messages)
    assert list(path.parent.glob("toy_chapter.json.corrupt-*"))


def test_heartbeat_events_and_summary_when_not_on_a_terminal(toy_project, monkeypatch):
    nb = toy_project.notebooks / "toy_chapter.py"
    nb.write_text(nb.read_text().replace("# %%\nch.claim(", textwrap.dedent("""\
        # %%
        import time
        from ftscope.train.checkpoints import cached_state
        cached_state("toy-weights", {"steps": cfg.steps}, lambda: {"w": model.weight.detach().clone()})
        time.sleep(1.5)

        # %%
        ch.claim(""")))
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0.5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    lines = []
    [done] = runner.run(toy_project, ["toy_chapter"], preset="smoke", device="cpu", echo=lines.append)
    assert done.status == "executed"
    assert any(re.match(r"\[ftscope\] toy_chapter: checkpoint built toy-weights-[0-9a-f]+\.pt$", line) for line in lines)
    assert any(re.search(r"toy_chapter: running cell \d+ of \d+ \(", line) for line in lines), lines
    assert "[ftscope] 1 claims: 1 reproduced" in lines[-1]
    assert lines[-1].endswith("[ftscope] checkpoints: 0 reused, 1 trained, 0 rebuilt after damage")


def test_ctrl_c_ends_with_one_line_and_keeps_the_cache(toy_project, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "execute_one", interrupted)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        runner.run(toy_project, ["toy_chapter"], preset="smoke", device="cpu", echo=lines.append)
    assert "interrupted during toy_chapter: the cache is intact" in lines[-1] and "resumes" in lines[-1]


def test_the_kernel_prints_no_tcp_warning(toy_project):
    proc = subprocess.run([sys.executable, "-m", "ftscope", "run", "toy_chapter", "--preset", "smoke", "--device",
                           "cpu"], cwd=toy_project.root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "without encryption" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("kw, message", [
    (dict(preset="bogus"), "'smoke', 'laptop', 'paper'"),
    (dict(device="tpu"), "'auto', 'cpu', 'cuda'"),
    (dict(seed=-1), "non-negative"),
    (dict(seed=2**32), "below 2\\*\\*32"),
    (dict(device="cuda"), "no CUDA device"),
])
def test_bad_parameters_fail_before_any_compute(toy_project, monkeypatch, kw, message):
    import torch

    def no_compute(*a, **k):
        raise AssertionError("executed despite bad parameters")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the cuda case is about machines without one
    monkeypatch.setattr(runner, "execute_one", no_compute)
    with pytest.raises(ConfigError, match=message):
        run(toy_project, **kw)
    with pytest.raises(ConfigError, match="valid choices: 'toy_chapter'"):
        runner.run(toy_project, ["nope"], echo=quiet)


def test_notebook_without_parameters_cell_is_refused(toy_project):
    nb = toy_project.notebooks / "toy_chapter.py"
    source = nb.read_text()
    stripped = re.sub(r'^# %% tags=\[[^\]]*"parameters"[^\]]*\]$', "# %%", source, flags=re.M)
    assert stripped != source, "fixture lost its parameters cell marker"
    nb.write_text(stripped)
    with pytest.raises(ConfigError, match="tagged 'parameters'"):
        run(toy_project)


def test_cli_rejects_bogus_preset(toy_project):
    proc = subprocess.run([sys.executable, "-m", "ftscope", "run", "toy_chapter", "--preset", "bogus"],
                          cwd=toy_project.root, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "'smoke', 'laptop', 'paper'" in proc.stderr
    assert not toy_project.results("bogus").exists()
    proc = subprocess.run([sys.executable, "-m", "ftscope", "claims", "--preset", "smoke", "--strict"],
                          cwd=toy_project.root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "without results: toy_chapter" in proc.stdout


def test_a_run_is_dirty_only_when_its_own_inputs_differ_from_the_commit(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    git("add", "a.py", "b.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    (tmp_path / "b.py").write_text("b = 2\n")  # an edit the chapter does not read
    clean = runner.git_commit(tmp_path, [tmp_path / "a.py"])
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    assert runner.git_commit(tmp_path, [tmp_path / "a.py", tmp_path / "b.py"]) == clean + "+dirty"
    (tmp_path / "new.py").write_text("")  # a new module it imports, not committed yet
    assert runner.git_commit(tmp_path, [tmp_path / "a.py", tmp_path / "new.py"]) == clean + "+dirty"
    assert runner.git_commit(tmp_path) == clean + "+dirty"  # no paths: any tracked file
