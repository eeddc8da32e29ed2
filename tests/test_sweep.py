"""``ftscope sweep``: a chapter's cells as submitit jobs fill the cache, and the notebook then trains nothing
and gives the plain run's claims; a killed sweep resumes with only the missing cells; Slurm submission
scripts carry the options and the waves' dependencies; bad requests fail before any compute."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ftscope.book import runner
from ftscope.book import sweep as bs
from ftscope.config import ConfigError
from ftscope.paths import Project
from ftscope.train.cells import Cell, Declared, Job
from ftscope.train.checkpoints import NotCached, cached_state

REPO = Path(__file__).resolve().parents[1]
CHAPTER = "08_universal_models"  # six cells at smoke (base and two fine-tunes on two model seeds), two waves


def project_at(root: Path) -> Project:
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "notebooks").mkdir(exist_ok=True)
    shutil.copy(REPO / "notebooks" / f"{CHAPTER}.py", root / "notebooks")
    return Project(root)


def sweep_args(*extra: str):
    from ftscope import sweep

    return sweep.parser().parse_args([CHAPTER, "--preset", "smoke", "--device", "cpu", *extra])


def trained(cache: Path) -> set[str]:
    """The chapter's trained checkpoints in ``cache`` (not its token cache)."""
    return {p.name for p in (cache / "checkpoints").glob("horn-*.pt") if not p.name.startswith("horn-tokens-")}


def claims_of(claims: list[dict]) -> dict:
    return {c["id"]: (c["ours"], c["verdict"]) for c in claims}


# CI runs it after the smoke book (`pytest -m smoke_book`), whose run of the chapter is the plain run: the notebook
# trained every cell itself there, so it need not execute a second time here
@pytest.mark.smoke_book
def test_a_killed_sweep_resumes_and_the_notebook_then_trains_nothing(tmp_path, monkeypatch):
    from ftscope import sweep

    plain = runner.load_result(Project(REPO), "smoke", CHAPTER)
    assert plain is not None, f"no smoke result for {CHAPTER}: run `make book PRESET=smoke` first (CI does)"
    assert plain["parameters"] == runner.parameters("smoke", "cpu", 0, {})
    swept_root = tmp_path / "swept"
    swept_root.mkdir()

    # the sweep, in another cache, killed once the first wave's cells are in
    cache = tmp_path / "cache"
    env = {**os.environ, "FTSCOPE_CACHE": str(cache), "FTSCOPE_ROOT": str(swept_root)}
    project = project_at(swept_root)
    first = subprocess.Popen([sys.executable, "-m", "ftscope.sweep", CHAPTER, "--preset", "smoke", "--device", "cpu",
                              "--parallel", "1"], env=env, cwd=swept_root, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list((cache / "checkpoints").glob("horn-base-*.pt")):
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = trained(cache)
    assert any(n.startswith("horn-base-") for n in done_before), "the first sweep built nothing before the kill"

    monkeypatch.setenv("FTSCOPE_CACHE", str(cache))
    monkeypatch.setenv("FTSCOPE_ROOT", str(swept_root))
    lines = []
    resumed = sweep.make_sweep(sweep_args("--parallel", "2"), project, echo=lines.append)
    declared = {n for j in resumed.plan().jobs for n in j.names}
    assert len(declared) == 6 and done_before < declared
    assert resumed.run() == 0, "\n".join(lines)
    submitted = {n for j in resumed.submitted for n in j.names}
    assert submitted == declared - done_before, "the resumed sweep must submit exactly the missing cells"
    assert len(resumed.submitted) >= 2 and len(list((cache / "sweeps" / "logs").glob("*_result.pkl"))) >= 3
    assert trained(cache) == declared

    # the notebook after the sweep: nothing may be trained (a missing checkpoint would fail it)
    [after] = runner.run(project, [CHAPTER], preset="smoke", device="cpu", cached_only=True, echo=lambda *_: None)
    assert after.status == "executed", after.error
    assert trained(cache) == declared
    assert claims_of(after.claims) == claims_of(plain["claims"])


def test_cached_only_refuses_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHED_ONLY", "1")
    project = Project(tmp_path)
    cell = Cell("x", {"a": 1}, lambda: {"w": torch.zeros(1)})
    with pytest.raises(NotCached, match="ftscope sweep"):
        cell.get(project)
    with pytest.raises(NotCached):
        Job((cell, Cell("y", {}, cell.build)), lambda cs: [c.build() for c in cs]).run(project)
    monkeypatch.setenv("FTSCOPE_CACHED_ONLY", "0")
    assert not cached_state("x", {"a": 1}, cell.build, project=project)[1]
    monkeypatch.setenv("FTSCOPE_CACHED_ONLY", "1")
    assert cell.get(project)[1]  # cached: read, not refused


def _cells(project):
    base = Cell("base", {"lr": 1.0}, lambda: {"w": torch.zeros(1)})
    fts = [Cell(f"ft{i}", {"lr": 0.1 * i}, lambda: {"w": torch.ones(1)}, deps=(base,)) for i in range(3)]
    return base, fts


def test_waves_follow_the_dependencies(tmp_path):
    project = Project(tmp_path)
    base, fts = _cells(project)
    declared = Declared([Job((fts[0],)), Job((base,)), Job(tuple(fts[1:]), lambda cs: [c.build() for c in cs])])
    rnd = bs.plan_round(project, ["c"], lambda *a: declared, "smoke", 0, "cpu", {}, {})
    order = bs.waves(rnd.jobs, set())
    assert [[re.sub(r"@\w+", "", j.label) for j in w] for w in order] == [["base"], ["ft0", "ft1 + ft2"]]
    assert bs.waves(rnd.jobs, {base.path(project).name}) == [order[1]]  # the base cached: one wave
    with pytest.raises(ConfigError, match="no declared job builds"):
        bs.waves([j for j in rnd.jobs if "base" not in j.label], set())


def test_bad_requests_fail_before_any_compute(tmp_path):
    from ftscope import sweep

    project = Project(tmp_path)
    for argv, match in [(["nope", "--preset", "smoke"], "unknown chapter 'nope'; valid choices: '01_tracr"),
                        ([CHAPTER, "--parallel", "0"], "at least one job"),
                        ([CHAPTER, "--no-wait"], "--no-wait is for --executor slurm"),
                        ([CHAPTER, "--executor", "slurm"], "no sbatch and srun on PATH")]:
        with pytest.raises(ConfigError, match=match):
            sweep.make_sweep(sweep.parser().parse_args(argv), project)
    (tmp_path / "slurm.yml").write_text("partition: gpu\ngpu: 2\n")
    with pytest.raises(ConfigError, match="unknown Slurm option .* 'gpu'; valid choices: .*'gpus_per_node'"):
        sweep.make_sweep(sweep.parser().parse_args([CHAPTER, "--slurm-config", str(tmp_path / "slurm.yml")]), project)
    with pytest.raises(SystemExit):
        sweep.parser().parse_args([CHAPTER, "--executor", "kubernetes"])
    assert subprocess.run([sys.executable, "-m", "ftscope.book.cli", "sweep", "--executor", "nope"],
                          capture_output=True, cwd=tmp_path).returncode == 2


def test_a_failed_job_is_reported_with_its_log(tmp_path, monkeypatch):
    from ftscope import sweep

    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "cache"))
    project = Project(tmp_path)
    bogus = Cell("not-declared", {"x": 1}, lambda: {"w": torch.zeros(1)})
    lines = []
    # the job re-declares the real chapter, which builds no such cell: it fails, and the sweep says where to look
    run = bs.Sweep(project, ["01_tracr_compiled"], lambda *a: Declared([Job((bogus,))]), sweep.build_cells,
                   preset="smoke", device="cpu", poll_s=0.2, echo=lines.append)
    assert run.run() == 1
    text = "\n".join(lines)
    assert "FAILED job" in text and "no longer declares a job building not-declared-" in text
    log = Path(text.split("log: ", 1)[1].split("\n", 1)[0])
    assert log.exists() and "no longer declares" in log.read_text()


FAKE_SBATCH = """#!/bin/sh
n=$(cat "$SWEEP_FAKE/next" 2>/dev/null || echo 4242)
echo $((n + 1)) > "$SWEEP_FAKE/next"
cp "$1" "$SWEEP_FAKE/sbatch-$n.sh"
echo "Submitted batch job $n"
"""
FAKE_SACCT = """#!/bin/sh
echo "JobID|State|NodeList"
for f in "$SWEEP_FAKE"/sbatch-*.sh; do n=${f##*sbatch-}; n=${n%.sh}; echo "$n|RUNNING|node1"; echo "${n}_0|RUNNING|node1"; \
echo "${n}_1|RUNNING|node1"; echo "${n}_2|RUNNING|node1"; done
"""


def test_slurm_scripts_carry_the_options_and_the_waves_dependencies(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("sacct", FAKE_SACCT), ("srun", '#!/bin/sh\nexec "$@"\n')):
        (fake / name).write_text(text)
        (fake / name).chmod((fake / name).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SWEEP_FAKE", str(fake))
    project = Project(tmp_path)
    base, fts = _cells(project)
    declared = Declared([Job((base,)), *[Job((c,)) for c in fts]])
    (tmp_path / "slurm.yml").write_text("partition: gpu\ntime_min: 90\naccount: lab\nsetup: ['source venv/bin/activate']\n"
                                        "extra: {constraint: h100}\n")
    options = bs.SlurmOptions.from_file(tmp_path / "slurm.yml").updated({"qos": "high", "gpus_per_node": 2})
    lines = []
    target = bs.Sweep(project, ["c"], lambda *a: declared, lambda *a: None, preset="smoke", executor="slurm",
                      slurm=options, wait=False, echo=lines.append)
    assert target.run() == 0
    first, second = (fake / "sbatch-4242.sh").read_text(), (fake / "sbatch-4243.sh").read_text()
    for flag in ("--partition=gpu", "--time=90", "--account=lab", "--qos=high", "--gpus-per-node=2",
                 "--cpus-per-task=8", "--mem=32GB", "--constraint=h100", "--kill-on-invalid-dep=yes"):
        assert f"#SBATCH {flag}\n" in first and f"#SBATCH {flag}\n" in second, flag
    assert "source venv/bin/activate" in first and "-m submitit.core._submit" in first
    assert "--dependency" not in first and "--array" not in first  # the base: one job, nothing before it
    assert "#SBATCH --dependency=afterok:4242\n" in second and "#SBATCH --array=0-2%3\n" in second
    assert "#SBATCH --job-name=ftscope-smoke\n" in second
    from submitit.core.utils import DelayedSubmission

    sent = DelayedSubmission.load(project.cache / "sweeps" / "logs" / "4243_1_submitted.pkl")
    assert sent.args[0] == "c" and sent.args[5] == [fts[1].path(project).name]  # chapter, ..., the cell it builds
    ledger = json.loads((project.cache / "sweeps" / "jobs.json").read_text())
    assert {e["job_id"] for e in ledger.values()} == {"4242", "4243_0", "4243_1", "4243_2"}
    # run again while those jobs are queued (sacct says RUNNING): nothing is submitted twice
    again = bs.Sweep(project, ["c"], lambda *a: declared, lambda *a: None, executor="slurm", slurm=options,
                     wait=False, echo=lines.append)
    assert again.run() == 0 and not again.submitted and not (fake / "sbatch-4244.sh").exists()


def test_a_cell_being_built_elsewhere_is_seen_by_its_lock(tmp_path):
    from ftscope.train.checkpoints import _locked, is_locked

    path = tmp_path / "checkpoints" / "c-0123456789abcdef.pt"
    assert not is_locked(path)
    with _locked(path):  # what cached_state holds while it trains
        assert is_locked(path)
    assert not is_locked(path)
    assert bs.short(path.name) == "c@012345"


def test_the_dry_run_lists_the_cells_their_state_and_the_cost_of_the_rest(tmp_path):
    project = Project(tmp_path)
    base, fts = _cells(project)
    base.get(project)  # cached
    declared = Declared([Job((base,), work=("pretraining",)),
                         Job(tuple(fts), lambda cs: [c.build() for c in cs], work=("fine-tuning",))],
                        later=["the chosen rate's seeds"], inline=["the probes"])
    costs = {("07", "pretraining"): 60.0, ("07", "fine-tuning"): 600.0}  # seconds a run, from the plan
    rnd = bs.plan_round(project, ["07_x"], lambda *a: declared, "paper", 0, "cpu", {}, costs)
    text = bs.describe(rnd, "paper")
    assert re.search(r"07_x\s+base@\w{6}\s+cached\s+60 s\s+–", text)
    assert re.search(r"07_x\s+ft0@\w{6} \+ ft1@\w{6} \+ ft2@\w{6}\s+missing\s+30 min\s+base@\w{6}", text)
    assert "2 jobs (4 cells): 1 cached, 1 to run, estimated 30 min on one H100" in text
    assert "later (07_x): the chosen rate's seeds" in text and "in the notebook (07_x): the probes" in text
    assert bs.estimate("07_x", Job((base,), work=("unknown",)), costs) is None


def test_declare_resolves_a_device_given_by_name(monkeypatch):
    import torch

    from ftscope import sweep as top

    seen = []
    monkeypatch.setitem(top.CHAPTERS, "05_tinystories_wrappers", lambda p, s, device, o: seen.append(device) or [])
    top.declare("05_tinystories_wrappers", "smoke", 0, "auto", {})
    # what a declaration loads cached models onto, never the bare name
    assert seen == [torch.device("cuda" if torch.cuda.is_available() else "cpu")]
