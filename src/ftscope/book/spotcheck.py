"""``ftscope spot-check``: one chapter re-run at ``laptop`` from an empty cache, against its committed record.

CI does not re-run the whole ``laptop`` book; it checks that every record is fresh (``ftscope records``) and
re-runs one chapter, chosen from the commit hash so that every chapter gets its turn, in a temporary cell
cache and results folder (the chapter trains what it reads, upstream cells included, as a fresh clone would).
Its verdicts are gated against ``book/expected/laptop.yml`` with the record as the reference run (a flip of a
claim unsettled in either run is a notice, any other flip fails), and its values are compared with the
record's, the largest differences printed. Nothing of the checkout is written.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ftscope.book import gate, records, runner
from ftscope.config import ConfigError, check_choice
from ftscope.paths import Project, environ

SHOWN = 10  # the largest differences printed


def head_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        raise ConfigError(f"{root} is not a git checkout: name the chapter to spot-check") from None
    return out.stdout.strip()


def choose(names: list[str], commit: str) -> str:
    """The chapter a commit spot-checks: the commit hash, as a number, modulo the number of chapters."""
    if not names:
        raise ConfigError("there are no chapters to spot-check")
    return names[int(commit, 16) % len(names)]


def _numbers(claim: dict[str, Any]) -> dict[str, float]:
    """A claim's numeric values by name: ``ours``, ``chance`` and each seed's value."""
    out = {}
    for key in ("ours", "chance"):
        v = claim.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    for i, v in enumerate(claim.get("seeds") or []):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"seed {i}"] = float(v)
    return out


def differences(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[tuple[float, str, float, float]]:
    """``(|difference|, "claim: value", record's, now)`` for every numeric value the two runs share, largest
    first (a value missing on one side, or not finite, counts as infinitely different)."""
    old = {c["id"]: _numbers(c) for c in before}
    out = []
    for claim in now:
        for key, value in _numbers(claim).items():
            if key in old.get(claim["id"], {}):
                ref = old[claim["id"]][key]
                diff = abs(value - ref) if math.isfinite(value) and math.isfinite(ref) else math.inf
                out.append((diff, f"{claim['id']}: {key}", ref, value))
    return sorted(out, key=lambda d: -d[0])


def spot_check(project: Project, name: str | None = None, timeout: int | None = None, echo=print) -> int:
    names = runner.notebook_names(project)
    if name is None:
        commit = head_commit(project.root)
        name = choose(names, commit)
        echo(f"[spot-check] commit {commit[:12]} draws {name} ({names.index(name) + 1} of {len(names)} chapters)")
    else:
        check_choice("notebook", name, names)
    record = records.load(project, name)
    if record is None:
        echo(f"[spot-check] {name} has no record to compare with; make it with `{records.refresh_command(name)}`")
        return 1
    if changed := records.stale_inputs(project, record):
        echo(f"[spot-check] {name}'s record is stale ({', '.join(changed[:5])} changed); refresh it with "
             f"`{records.refresh_command(name)}` first")
        return 1
    expected = (gate.load_expected(project, records.PRESET) or {}).get(name)
    if expected is None:
        echo(f"[spot-check] {name} has no expected verdicts in book/expected/{records.PRESET}.yml")
        return 1
    params = runner.parameters(records.PRESET, "cpu", 0, {})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"{runner.TEMP_PREFIX}spot-check-") as tmp:
        (Path(tmp) / runner.OWNER).write_text(str(os.getpid()))  # in use: `ftscope clean-cache` leaves it
        echo(f"[spot-check] {name}: executing at {records.PRESET} from an empty cache ({tmp}) ...")
        with environ(FTSCOPE_CACHE=str(Path(tmp) / "cache")):
            outcome = runner.execute_one(project, name, params, runner.installed_versions(), timeout,
                                         out_dir=Path(tmp) / "results", publish_book=False)
    seconds = time.monotonic() - started
    if outcome.status == "failed":
        echo(f"[spot-check] {name} FAILED after {seconds:.0f} s\n{outcome.error}")
        return 1
    result = outcome.result
    echo(f"[spot-check] {name}: {seconds:.0f} s from an empty cache (the record's run: {record['duration_s']:.0f} s, "
         f"{records.provenance(record)}; this machine: {result['run']['machine']['cpu']['model']}, "
         f"{result['run']['machine'].get('torch', {}).get('threads')} threads)")
    if result["run"]["input_digest"] != record["input_digest"]:
        changed = runner.changed_inputs(record["inputs"], result["run"]["inputs"])
        echo(f"[spot-check] notice: the run read other inputs than the record lists: {', '.join(changed[:8])}")
    diffs = differences(record["claims"], result["claims"])
    differ = [d for d in diffs if d[0] > 0]
    echo(f"[spot-check] {len(diffs)} values compared with the record: {len(diffs) - len(differ)} identical"
         + ("; the largest differences:" if differ else ""))
    for diff, what, ref, now in differ[:SHOWN]:
        echo(f"  {what:<58} record {ref:<12.6g} now {now:<12.6g} |diff| {diff:.3g}")
    failures, notices = gate.compare({name: result}, {name: expected}, {name: record})
    for line in notices:
        echo(f"[spot-check] notice: the verdict of an unsettled claim flipped: {line}")
    for line in failures:
        echo(f"[spot-check] FAIL: {line}")
    if failures:
        return 1
    echo(f"[spot-check] {name}: every verdict as expected ({len(result['claims'])} claims"
         + (f", {len(notices)} unsettled flip(s) noticed" if notices else "") + ")")
    return 0
