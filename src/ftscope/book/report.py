"""``ftscope build`` / ``claims`` / ``status``: the scorecard and status tables, and the book build.

The scorecard and status pages (``book/scorecard.md``, ``book/status.md``) are written by
hand; the tables they include are generated here from ``results/<preset>/*.json`` into
``book/_generated/`` just before Jupyter Book runs, so they can never be typed by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ftscope.book import gate
from ftscope.book.bench import bench_path, bench_table, plan_path, plan_table
from ftscope.book.claims import fmt, fmt_ours, validate_result
from ftscope.book.runner import installed_versions, load_result, notebook_names, publish, state
from ftscope.config import check_preset
from ftscope.paths import Project

VERDICT_MARK = {"reproduced": "✅ reproduced", "not reproduced": "❌ not reproduced",
                "inconclusive": "◻️ inconclusive", "failed": "⚠️ failed"}
COUNT_COLUMNS = ("reproduced", "not reproduced", "inconclusive", "failed", "fragile", "not attempted")


def _mark(claim: dict[str, Any]) -> str:
    return VERDICT_MARK[claim["verdict"]] + (f", fragile ({claim['seeds_meeting']}/{len(claim['seeds'])} seeds)"
                                            if claim.get("fragile") else "")


def counts_by_paper(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per paper: how many claims have each verdict, how many are fragile, how many results are not attempted."""
    out: dict[str, dict[str, int]] = {}
    for doc in docs.values():
        for c in doc["claims"]:
            row = out.setdefault(c["paper"], dict.fromkeys(COUNT_COLUMNS, 0))
            row[c["verdict"]] += 1
            row["fragile"] += bool(c.get("fragile"))
        for skipped in doc.get("not_attempted", []):
            out.setdefault(skipped["paper"], dict.fromkeys(COUNT_COLUMNS, 0))["not attempted"] += 1
    return out


def _cell(text: Any) -> str:
    return fmt(text).replace("|", "\\|").replace("\n", " ")


def results(project: Project, preset: str) -> dict[str, dict[str, Any]]:
    """Every notebook's validated results at ``preset`` (notebooks without results are absent)."""
    out = {}
    for name in notebook_names(project):
        doc = load_result(project, preset, name)
        if doc is not None:
            validate_result(doc)
            out[name] = doc
    return out


def scorecard_rows(project: Project, preset: str) -> list[dict[str, Any]]:
    return [claim for doc in results(project, preset).values() for claim in doc["claims"]]


def scorecard_markdown(project: Project, preset: str) -> str:
    docs = results(project, preset)
    rows = [claim for doc in docs.values() for claim in doc["claims"]]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_MARK}
    lines = [
        f"Preset **{preset}**: {len(rows)} claims, "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + f"; {sum(bool(r.get('fragile')) for r in rows)} fragile (seeds disagree).",
        "",
        "| Paper | " + " | ".join(COUNT_COLUMNS) + " |",
        "|---|" + "---|" * len(COUNT_COLUMNS),
    ]
    for paper, n in counts_by_paper(docs).items():
        lines.append(f"| {paper} | " + " | ".join(str(n[k]) for k in COUNT_COLUMNS) + " |")
    lines += [
        "",
        "| Chapter | Claim | Paper | Paper's statement | Paper | Ours | Chance | Criterion | Verdict | Notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        chapter = f"{{doc}}`{r['chapter']} </book/chapters/{r['chapter']}>`"
        lines.append("| " + " | ".join([
            chapter, f"`{r['id']}`", _cell(f"{r['paper']}, {r['reference']}"), _cell(r["statement"]),
            _cell(r["paper_value"]), _cell(fmt_ours(r)), _cell(r.get("chance")), _cell(r["criterion"]),
            _mark(r), _cell(r.get("note", "")),
        ]) + " |")
    if not rows:
        lines.append("| – | – | – | no chapter has recorded a claim at this preset yet | – | – | – | – | – | – |")
    skipped = [(doc["notebook"], s) for doc in docs.values() for s in doc.get("not_attempted", [])]
    if skipped:
        lines += ["", "**Not attempted** (results of the papers no chapter reproduces, and why):", "",
                  "| Paper | Where | Result | Why not | Chapter |", "|---|---|---|---|---|"]
        lines += [f"| {s['paper']} | {_cell(s['reference'])} | {_cell(s['statement'])} | {_cell(s['why'])} "
                  f"| {{doc}}`{name} </book/chapters/{name}>` |" for name, s in skipped]
    return "\n".join(lines) + "\n"


def status_markdown(project: Project, preset: str) -> str:
    versions = installed_versions()
    lines = [
        "| Notebook | Preset | Device | Seed | Duration (s) | Finished (UTC) | Commit | Cache |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in notebook_names(project):
        doc = load_result(project, preset, name)
        if doc is None:
            lines.append(f"| {name} | {preset} | – | – | – | – | – | {state(project, preset, name, versions)} |")
            continue
        run = doc["run"]
        lines.append(
            f"| {{doc}}`{name} </book/chapters/{name}>` | {doc['preset']} | {doc['device']} | {doc['seed']} "
            f"| {run['duration_s']:.1f} | {run['finished']} | `{run['commit'][:12]}` "
            f"| {state(project, preset, name, versions)} |"
        )
    total = sum(d["run"]["duration_s"] for d in results(project, preset).values())
    lines += ["", f"Total execution time at **{preset}**: {total:.0f} s.", "",
              "## Training loops against the machine's peak", "",
              "Measured by `ftscope bench` (see its help): each loop's speed, the FLOP/s it achieves and that "
              "as a share of the machine's fp32 matmul peak.", "", bench_table(bench_path(project)), "",
              "## The cost of `paper`", "",
              "Counted by `ftscope plan --preset paper` with the benchmark's FLOPs: each chapter's trainings at the "
              "paper's sizes, its largest model's memory and the time one H100 would take, beside the chapter's "
              "notebook time at `ci` on this machine.", "",
              plan_table(plan_path(project, "paper"), {name[:2]: doc["run"]["duration_s"]
                                                       for name, doc in results(project, "ci").items()})]
    return "\n".join(lines) + "\n"


def criteria_markdown(project: Project, preset: str) -> str:
    """Every claim's criterion and its basis (the paper's text it was fixed from), as recorded."""
    rows = scorecard_rows(project, preset)
    lines = ["| Chapter | Claim | Criterion | Basis |", "|---|---|---|---|"]
    lines += [f"| {r['chapter']} | `{r['id']}` | {_cell(r['criterion'])} | {_cell(r.get('basis') or '–')} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def write_generated(project: Project, preset: str) -> None:
    project.generated.mkdir(parents=True, exist_ok=True)
    (project.generated / "criteria.md").write_text(criteria_markdown(project, preset))
    (project.generated / "scorecard.md").write_text(scorecard_markdown(project, preset))
    (project.generated / "status.md").write_text(status_markdown(project, preset))


def sync_chapters(project: Project, preset: str) -> list[str]:
    """Put each notebook's executed copy at ``preset`` where the book reads it; name the missing."""
    missing = []
    for name in notebook_names(project):
        if (project.results(preset) / f"{name}.ipynb").exists():
            publish(project, preset, name)
        else:
            missing.append(name)
    return missing


def build(project: Project, preset: str, echo=print) -> int:
    """Render the book from the executed notebooks at ``preset``; warnings are errors."""
    check_preset(preset)
    missing = sync_chapters(project, preset)
    if missing:
        echo(f"[ftscope] no executed notebook at preset {preset!r} for: {', '.join(missing)}; "
             f"run `ftscope run --preset {preset}` first")
        return 2
    write_generated(project, preset)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(project.root), "--builder", "html",
           "-W", "-n", "--keep-going"]
    echo("[ftscope] " + " ".join(cmd))
    return subprocess.run(cmd, cwd=project.root).returncode


def claims_report(project: Project, preset: str, strict: bool, echo=print, write_expected: bool = False) -> int:
    """Print the scorecard. With ``strict``: non-zero when a claim failed, a notebook has no result,
    or (where ``book/expected/<preset>.yml`` exists) a verdict differs from its expectation or a claim
    appears or disappears (``ftscope.book.gate``). ``write_expected`` writes that file from the results."""
    check_preset(preset)
    docs = results(project, preset)
    rows = [c for d in docs.values() for c in d["claims"]]
    width = max([len(r["id"]) for r in rows] + [5])
    for r in rows:
        echo(f"{r['verdict']:<15} {r['id']:<{width}} ours={fmt_ours(r):<8} paper={fmt(r['paper_value']):<8} "
             + (f"chance={fmt(r['chance'])} " if r.get("chance") is not None else "")
             + f"[{r['criterion']}] {r['chapter']} ({r['reference']})" + (" FRAGILE" if r.get("fragile") else ""))
    missing = [n for n in notebook_names(project) if n not in docs]
    failed = [r["id"] for r in rows if r["verdict"] == "failed"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_MARK}
    echo(f"{len(rows)} claims at {preset}: " + ", ".join(f"{n} {v}" for v, n in counts.items())
         + f"; {sum(bool(r.get('fragile')) for r in rows)} fragile")
    for paper, n in counts_by_paper(docs).items():
        echo(f"  {paper}: " + ", ".join(f"{n[k]} {k}" for k in COUNT_COLUMNS))
    if missing:
        echo(f"no results at {preset} for: {', '.join(missing)}")
    if write_expected:
        echo(f"wrote {gate.write_expected(project, preset, docs).relative_to(project.root)}")
    expected = gate.load_expected(project, preset)
    changed, notices = gate.compare(docs, expected) if expected is not None else ([], [])
    for line in notices:
        echo(f"verdict flip of a fragile claim: {line}")
    if expected is None:
        echo(f"no expected verdicts at {preset} ({gate.expected_path(project, preset).relative_to(project.root)})")
    elif not changed:
        echo(f"every verdict as expected at {preset}"
             + (f" ({len(notices)} fragile claim(s) flipped, listed above)" if notices else ""))
    reasons = ([f"claims failed: {', '.join(failed)}"] if failed else []) + (
        [f"notebooks without results: {', '.join(missing)}"] if missing else []) + (
        ["verdicts differ from the expectation:\n  " + "\n  ".join(changed)] if changed else [])
    if strict and reasons:
        echo("strict: failing because " + "; ".join(reasons))
        return 1
    if reasons:
        echo("; ".join(reasons))
    return 0


def status_report(project: Project, preset: str | None, echo=print) -> int:
    versions = installed_versions()
    presets = [check_preset(preset)] if preset else ["smoke", "ci", "paper"]
    echo(f"{'notebook':<32} {'preset':<6} {'device':<6} {'seconds':>8}  {'finished (UTC)':<25} cache")
    for p in presets:
        for name in notebook_names(project):
            doc = load_result(project, p, name)
            if doc is None and preset is None and not Path(project.results(p) / f"{name}.failed.ipynb").exists():
                continue
            st = state(project, p, name, versions)
            if doc is None:
                echo(f"{name:<32} {p:<6} {'–':<6} {'–':>8}  {'–':<25} {st}")
            else:
                echo(f"{name:<32} {p:<6} {doc['device']:<6} {doc['run']['duration_s']:>8.1f}  "
                     f"{doc['run']['finished']:<25} {st}")
    return 0
