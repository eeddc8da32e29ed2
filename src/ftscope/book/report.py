"""``ftscope build`` / ``claims`` / ``status``: the scorecard and status tables, and the book build.

The scorecard and status pages (``book/scorecard.md``, ``book/status.md``) are written by
hand; the tables they include are generated here just before Jupyter Book runs, so they can never be
typed by hand: at ``laptop`` from the committed reproduction records (``book/records/laptop``, the book's
numbers; ``ftscope.book.records``), at the other presets from ``results/<preset>/*.json``. Each chapter
says which run (commit, machine, date) its numbers come from.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

from ftscope.book import gate, records, site
from ftscope.book.bench import bench_path, bench_table, plan_path, plan_table
from ftscope.book.claims import fmt, fmt_ours
from ftscope.book.gate import kind_of
from ftscope.book.runner import (
    installed_versions,
    leftovers_line,
    load_result,
    notebook_names,
    overrides_text,
    publish,
    state,
)
from ftscope.config import ConfigError, check_preset
from ftscope.paths import Project

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "failed")
COUNT_COLUMNS = (*VERDICTS, "fragile", "not attempted")


def _counts(claims: list[dict[str, Any]], skipped: int = 0) -> dict[str, int]:
    """How many of ``claims`` have each verdict, how many are fragile; and ``skipped`` results not attempted."""
    n = {k: sum(c["verdict"] == k for c in claims) for k in VERDICTS}
    n["fragile"] = sum(bool(c.get("fragile")) for c in claims)
    n["not attempted"] = skipped
    return n


def counts_by_paper(docs: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per paper: how many of its *paper* claims have each verdict, how many are fragile, how many results are
    not attempted. Preconditions and our own hypotheses are not counted here (``counts_by_kind``)."""
    papers = dict.fromkeys(c["paper"] for d in docs.values() for c in d["claims"] + d.get("not_attempted", [])
                           if kind_of(c) == "paper")
    return {p: _counts([c for d in docs.values() for c in d["claims"] if c["paper"] == p and kind_of(c) == "paper"],
                       sum(s["paper"] == p for d in docs.values() for s in d.get("not_attempted", [])))
            for p in papers}


def counts_by_kind(docs: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, int]]:
    """Per chapter that has any: how many of its claims of ``kind`` have each verdict."""
    out = {}
    for name, d in docs.items():
        mine = [c for c in d["claims"] if kind_of(c) == kind]
        if mine:
            out[name] = _counts(mine)
    return out


def _cell(text: Any) -> str:
    return fmt(text).replace("|", "\\|").replace("\n", " ")


def results(project: Project, preset: str, echo=print) -> dict[str, dict[str, Any]]:
    """Every notebook's validated results at ``preset`` (notebooks without results, or with a file that is not a
    results file, are absent; such a file is named in one line and left where it is)."""
    out = {}
    for name in notebook_names(project):
        doc = load_result(project, preset, name, echo=echo, move=False)
        if doc is not None:
            out[name] = doc
    return out


ALLOW_OVERRIDES = "--allow-overrides"


def with_overrides(docs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``{chapter: "lr=0.1"}`` for each result run with overrides: not its preset's reproduction."""
    return {name: text for name, doc in docs.items() if (text := overrides_text(doc))}


def book_docs(project: Project | None, preset: str) -> dict[str, dict[str, Any]]:
    """What the book shows at ``preset``, by chapter: at ``laptop`` the committed records (a chapter without
    one shows its local result, if any), elsewhere the local results."""
    docs = results(project, preset)
    if preset == records.PRESET and project is not None:
        docs.update(records.load_all(project))
    return dict(sorted(docs.items()))


def provenance(doc: dict[str, Any]) -> str:
    """Which run a chapter's numbers come from: its record, or this checkout's last run."""
    if "input_digest" in doc:
        return "the record of " + records.provenance(doc)
    run = doc.get("run", {})
    facts = [f"commit {run['commit'][:8]}" if run.get("commit") else "",
             run.get("machine", {}).get("cpu", {}).get("model", ""), run.get("finished", "")[:10]]
    return "this checkout's last run" + "".join(f", {f}" for f in facts if f)


def scorecard_rows(project: Project, preset: str) -> list[dict[str, Any]]:
    return [claim for doc in book_docs(project, preset).values() for claim in doc["claims"]]


PAPER_NAMES = {"jain2024": "Jain et al. (ICLR 2024)", "zhang2024": "Zhang & Wu (ICLR 2024)",
               "horn2024": "Horn & Elliott (2024)"}
BADGE_CLASS = {"reproduced": "sc-reproduced", "not reproduced": "sc-not-reproduced",
               "inconclusive": "sc-inconclusive", "failed": "sc-failed", "fragile": "sc-fragile",
               "not attempted": "sc-not-attempted", "precondition": "sc-precondition",
               "hypothesis": "sc-hypothesis"}
KIND_ROWS = {"hypothesis": "Beyond the papers (our hypotheses)",
             "precondition": "Preconditions (gates; not counted as results)"}
KIND_ORDER = {"precondition": 0, "paper": 1, "hypothesis": 2}
MISSES = ("not reproduced", "inconclusive", "failed", "fragile")


def is_miss(claim: dict[str, Any]) -> bool:
    """What the scorecard's "misses" filter keeps: every claim that is not a plain, stable reproduction."""
    return claim["verdict"] != "reproduced" or bool(claim.get("fragile"))


def title_of(claim: dict[str, Any], width: int = 72) -> str:
    """The claim's short title: its recorded ``title``, else its statement cut at a word under ``width``
    characters (the whole statement unfolds beneath it)."""
    text = claim.get("title") or claim["statement"]
    if len(text) <= width:
        return text
    return text[:width].rsplit(" ", 1)[0].rstrip(",;:(") + " …"


def chapter_title(project: Project | None, preset: str, name: str) -> str:
    """The first heading of the chapter's executed notebook (its name where there is none)."""
    path = None if project is None else project.results(preset) / f"{name}.ipynb"
    if path is not None and path.exists():
        for cell in json.loads(path.read_text())["cells"]:
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "markdown" and (m := re.search(r"^# (.+)$", src, re.M)):
                return m.group(1).strip()
    return name


def _badge(kind: str, text: str, href: str | None = None) -> str:
    tag = f'<a class="sc-badge {BADGE_CLASS[kind]}" href="{href}">' if href else \
        f'<span class="sc-badge {BADGE_CLASS[kind]}">'
    return tag + escape(text) + ("</a>" if href else "</span>")


def _badges(n: dict[str, int], anchor: str) -> str:
    """Coloured count badges; the misses link to the filtered view, the rest to ``anchor``."""
    return " ".join(_badge(k, f"{n[k]} {k}", "#misses" if k in MISSES else anchor)
                    for k in COUNT_COLUMNS if n[k])


def _ours_cell(c: dict[str, Any]) -> str:
    out = f"<strong>{escape(fmt(c['ours']))}</strong>"
    if c.get("spread"):
        out += f'<br><span class="sc-small">{escape(fmt(c["spread"][0]))}–{escape(fmt(c["spread"][1]))}'
        meeting = c.get("seeds_meeting")
        out += (f", {meeting}/{len(c['seeds'])} seeds" if meeting is not None else f", {len(c['seeds'])} seeds")
        out += "</span>"
    if c.get("chance") is not None:
        out += f'<br><span class="sc-small">chance {escape(fmt(c["chance"]))}</span>'
    return out


def _claim_row(c: dict[str, Any]) -> str:
    verdict = _badge(c["verdict"], c["verdict"]) + (
        " " + _badge("fragile", f"fragile {c['seeds_meeting']}/{len(c['seeds'])}") if c.get("fragile") else "")
    if kind_of(c) != "paper":
        verdict += " " + _badge(kind_of(c), kind_of(c))
    details = (f"<p><strong>The paper ({escape(c['reference'])}):</strong> {escape(c['statement'])}</p>"
               + (f"<p><strong>Judged under:</strong> {escape(', '.join(c['needs']))}</p>" if c.get("needs")
                  else "")
               + (f"<p><strong>Our note:</strong> {escape(c['note'])}</p>" if c.get("note") else "")
               + (f"<p><strong>Criterion's basis:</strong> {escape(c['basis'])}</p>" if c.get("basis") else "")
               + f"<p><code>{escape(c['id'])}</code></p>")
    miss = "1" if is_miss(c) else "0"
    return (f'<tr id="claim-{escape(c["id"])}" data-miss="{miss}"><td>{verdict}</td>'
            f"<td><details><summary>{escape(title_of(c))}</summary>{details}</details></td>"
            f"<td>{_ours_cell(c)}</td><td>{escape(fmt(c['paper_value']))}</td>"
            f"<td><code>{escape(c['criterion'])}</code></td></tr>")


CLAIMS_HEAD = ('<colgroup><col style="width:17%"><col style="width:39%"><col style="width:18%">'
               '<col style="width:9%"><col style="width:17%"></colgroup>'
               "<thead><tr><th>Verdict</th><th>Claim (click for the paper's statement and our note)</th>"
               "<th>Ours (seed range)</th><th>Paper</th><th>Criterion</th></tr></thead>")


def scorecard_markdown(project: Project | None, preset: str) -> str:
    """The scorecard as the book shows it (HTML inside Markdown): per paper and per chapter, coloured counts
    of each verdict; a switch that shows only the misses; one compact table per chapter (verdict first, the
    paper's statement and our note folded under the claim's title); the results no chapter attempts."""
    docs = book_docs(project, preset)
    rows = [claim for doc in docs.values() for claim in doc["claims"]]
    papers = [c for c in rows if kind_of(c) == "paper"]
    total = _counts(papers, sum(len(d.get("not_attempted", [])) for d in docs.values()))
    by_kind = {kind: _counts([c for c in rows if kind_of(c) == kind]) for kind in KIND_ROWS}
    head = (f"Preset **{preset}**: {len(papers)} claims of the papers, "
            + ", ".join(f"{total[v]} {v}" for v in VERDICTS)
            + f"; {total['fragile']} fragile (seeds disagree); {total['not attempted']} results not attempted.")
    for kind, what in (("hypothesis", "hypotheses of our own beyond the papers"),
                       ("precondition", "preconditions that gate them")):
        n = sum(by_kind[kind][v] for v in VERDICTS)
        if n:
            head += f" {n} {what}: " + ", ".join(f"{by_kind[kind][v]} {v}" for v in VERDICTS if by_kind[kind][v]) + "."
    lines = [head, ""]
    summary = ['<div class="ftscope-scorecard">',
               '<table class="ftscope-table sc-summary" id="sc-summary"><colgroup><col style="width:38%">'
               '<col style="width:62%"></colgroup><thead><tr><th>Paper / chapter</th><th>Claims</th></tr></thead>'
               "<tbody>"]
    titles = {n: escape(chapter_title(project, preset, n)) for n in docs}
    for paper, counts in counts_by_paper(docs).items():
        names = [n for n, d in docs.items()
                 if any(c["paper"] == paper and kind_of(c) == "paper" for c in d["claims"] + d.get("not_attempted", []))]
        summary.append(f'<tr class="sc-paper"><td><strong>{escape(PAPER_NAMES.get(paper, paper))}</strong></td>'
                       f"<td>{_badges(counts, '#sc-' + names[0])}</td></tr>")
        for n in names:  # a chapter's paper claims of this paper only
            doc = docs[n]
            mine = [c for c in doc["claims"] if c["paper"] == paper and kind_of(c) == "paper"]
            skipped = sum(s["paper"] == paper for s in doc.get("not_attempted", []))
            summary.append(f'<tr class="sc-chapter"><td><a href="#sc-{n}">{titles[n]}</a></td>'
                           f"<td>{_badges(_counts(mine, skipped), '#sc-' + n)}</td></tr>")
    for kind, title in KIND_ROWS.items():
        by_chapter = counts_by_kind(docs, kind)
        if not by_chapter:
            continue
        names = list(by_chapter)
        summary.append(f'<tr class="sc-paper sc-{kind}-row"><td><strong>{escape(title)}</strong></td>'
                       f"<td>{_badges(by_kind[kind], '#sc-' + names[0])}</td></tr>")
        summary += [f'<tr class="sc-chapter"><td><a href="#sc-{n}">{titles[n]}</a></td>'
                    f"<td>{_badges(counts, '#sc-' + n)}</td></tr>" for n, counts in by_chapter.items()]
    if not rows:
        summary.append("<tr><td>–</td><td>no chapter has recorded a claim at this preset yet</td></tr>")
    summary += ["</tbody></table>",
                '<p class="sc-filter"><label><input type="checkbox" id="sc-misses-only"> Show only the misses '
                "(not reproduced, inconclusive, failed or fragile)</label> · "
                '<a href="#misses" id="sc-jump-misses">jump to the misses</a></p>',
                '<span id="misses"></span>']
    for name, doc in docs.items():
        if not doc["claims"]:
            continue
        summary.append(f'<section class="sc-section" id="sc-{name}"><h3>'
                       f'<a href="chapters/{name}.html">{titles[name]}</a></h3>'
                       f'<p class="sc-source">Numbers from {escape(provenance(doc))}.</p>'
                       f'<table class="ftscope-table sc-claims">{CLAIMS_HEAD}<tbody>'
                       + "".join(_claim_row(c) for c in sorted(doc["claims"], key=lambda c: KIND_ORDER[kind_of(c)]))
                       + "</tbody></table></section>")
    skipped = [(n, s) for n, doc in docs.items() for s in doc.get("not_attempted", [])]
    if skipped:
        summary.append('<section class="sc-section sc-skipped" id="sc-not-attempted"><h3>Not attempted</h3>'
                       "<p>Results of the papers no chapter reproduces, and why.</p>"
                       '<table class="ftscope-table sc-claims"><colgroup><col style="width:20%">'
                       '<col style="width:60%"><col style="width:20%"></colgroup><thead><tr><th>Paper</th>'
                       "<th>Result (click for why not)</th><th>Chapter</th></tr></thead><tbody>"
                       + "".join(f'<tr data-miss="1"><td>{escape(PAPER_NAMES.get(s["paper"], s["paper"]))}, '
                                 f"{escape(s['reference'])}</td><td><details><summary>{escape(s['statement'])}"
                                 f"</summary><p>{escape(s['why'])}</p></details></td>"
                                 f'<td><a href="chapters/{n}.html">{escape(n)}</a></td></tr>' for n, s in skipped)
                       + "</tbody></table></section>")
    summary.append("</div>")
    return "\n".join(lines) + "\n" + "".join(summary) + "\n"


def _short_time(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _machine(doc: dict[str, Any]) -> str:
    machine = doc.get("machine") or doc.get("run", {}).get("machine") or {}
    cpu, torch = machine.get("cpu", {}), machine.get("torch", {})
    parts = [cpu.get("model", "–")] + ([f"{torch['threads']} thr"] if torch.get("threads") else []) + (
        [torch["cpu_capability"]] if torch.get("cpu_capability") else [])
    return ", ".join(parts)


def _status_row(name: str, doc: dict[str, Any] | None, state_text: str) -> str:
    if doc is None:
        return f"<tr><td>{escape(name)}</td>" + "<td>–</td>" * 5 + f"<td>{escape(state_text)}</td></tr>"
    run = doc.get("run", doc)  # a result keeps its run's facts under "run"; a record at its top
    return (f'<tr><td><a href="chapters/{name}.html">{escape(name)}</a></td><td>{escape(str(doc["device"]))}</td>'
            f'<td style="text-align:right">{run["duration_s"]:.0f}</td><td>{_short_time(run["finished"])}</td>'
            f"<td><code>{run['commit'][:8]}</code></td><td>{escape(_machine(doc))}</td>"
            f"<td>{escape(state_text)}</td></tr>")


def status_rows(project: Project, preset: str) -> tuple[list[str], dict[str, float]]:
    """The status table's rows and each chapter's seconds. At ``laptop`` a row is the chapter's committed
    record and its state is the record's (fresh, or stale naming how many inputs changed); elsewhere a row
    is the local result and its state the cache's."""
    rows, seconds = [], {}
    if preset == records.PRESET:
        for name in notebook_names(project):
            doc = records.load(project, name)
            if doc is None:
                rows.append(_status_row(name, None, "no record"))
                continue
            changed = records.stale_inputs(project, doc)
            rows.append(_status_row(name, doc, f"stale ({len(changed)} inputs changed)" if changed else "fresh"))
            seconds[name] = doc["duration_s"]
        return rows, seconds
    versions = installed_versions()
    for name in notebook_names(project):
        doc = load_result(project, preset, name, echo=lambda _: None, move=False)
        rows.append(_status_row(name, doc, state(project, preset, name, versions)))
        if doc is not None:
            seconds[name] = doc["run"]["duration_s"]
    return rows, seconds


def status_markdown(project: Project, preset: str) -> str:
    rows, seconds = status_rows(project, preset)
    state_head = "Record" if preset == records.PRESET else "Cache"
    table = ('<table class="ftscope-table sc-status" id="status-table"><colgroup><col style="width:23%">'
             '<col style="width:9%"><col style="width:10%"><col style="width:13%"><col style="width:12%">'
             '<col style="width:20%"><col style="width:13%"></colgroup>'
             "<thead><tr><th>Notebook</th><th>Device</th><th>Seconds</th><th>Finished (UTC)</th><th>Commit</th>"
             f"<th>Machine</th><th>{state_head}</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    where = ("each chapter's committed reproduction record (`book/records/laptop/`): the run whose numbers the "
             "book shows" if preset == records.PRESET else f"this checkout's last run of each chapter at `{preset}`")
    lines = [f"Preset **{preset}**, from {where}.", "", table, "",
             f"Total execution time at **{preset}**: {sum(seconds.values()):.0f} s.", "",
             "## Training loops against the machine's peak", "",
             "Measured by `ftscope bench` (see its help): each loop's speed, the FLOP/s it achieves and that "
             "as a share of the machine's fp32 matmul peak.", "", bench_table(bench_path(project, preset)), "",
             "## The cost of `paper`", "",
             "Counted by `ftscope plan --preset paper` with the benchmark's FLOPs: each chapter's trainings at the "
             "paper's sizes, its largest model's memory and the time one H100 would take, beside the chapter's "
             "notebook time at `laptop` in its record.", "",
             plan_table(plan_path(project, "paper"), {name[:2]: doc["duration_s"]
                                                      for name, doc in records.load_all(project).items()})]
    return "\n".join(lines) + "\n"


def criteria_markdown(project: Project, preset: str) -> str:
    """Every claim's criterion and its basis (the paper's text it was fixed from), as recorded."""
    rows = scorecard_rows(project, preset)
    lines = ["| Chapter | Claim | Kind | Criterion | Basis |", "|---|---|---|---|---|"]
    lines += [f"| {r['chapter']} | `{r['id']}` | {kind_of(r)}"
              + (f" (under {', '.join(r['needs'])})" if r.get("needs") else "")
              + f" | {_cell(r['criterion'])} | {_cell(r.get('basis') or '–')} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_generated(project: Project, preset: str) -> None:
    project.generated.mkdir(parents=True, exist_ok=True)
    (project.generated / "criteria.md").write_text(criteria_markdown(project, preset))
    (project.generated / "scorecard.md").write_text(scorecard_markdown(project, preset))
    (project.generated / "status.md").write_text(status_markdown(project, preset))


def sync_chapters(project: Project, preset: str) -> list[str]:
    """Put each notebook's executed copy at ``preset`` where the book reads it, with its re-run box on top;
    name the missing."""
    missing = []
    for name in notebook_names(project):
        if (project.results(preset) / f"{name}.ipynb").exists():
            publish(project, preset, name)
            site.add_rerun_box(project.chapters / f"{name}.ipynb",
                               site.rerun_box(name, site.measured(project, name), site.planned_seconds(project, name)))
        else:
            missing.append(name)
    return missing


def build(project: Project, preset: str, echo=print, environ=None, allow_overrides: bool = False) -> int:
    """Render the book from the executed notebooks at ``preset``; warnings are errors. The repository and
    launch buttons come from ``environ`` (``ftscope.book.site``). A chapter run with overrides is refused unless
    ``allow_overrides`` (its page then says so)."""
    check_preset(preset)
    if (odd := with_overrides(results(project, preset, echo))) and not allow_overrides:
        echo("[ftscope] run with overrides, not the preset's reproduction: "
             + "; ".join(f"{n} ({t})" for n, t in odd.items())
             + f". Re-run them without --set, or build anyway with {ALLOW_OVERRIDES}")
        return 2
    config = site.write_book_config(project, os.environ if environ is None else environ)
    missing = sync_chapters(project, preset)
    if missing:
        echo(f"[ftscope] no executed notebook at preset {preset!r} for: {', '.join(missing)}; "
             f"run `ftscope run --preset {preset}` first")
        return 2
    write_generated(project, preset)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(project.root), "--builder", "html",
           "--config", str(config), "-W", "-n", "--keep-going"]
    echo("[ftscope] " + " ".join(cmd))
    return subprocess.run(cmd, cwd=project.root).returncode


SMOKE = "smoke"


def claims_report(project: Project, preset: str, strict: bool, echo=print, write_expected: bool = False,
                  allow_overrides: bool = False) -> int:
    """Print the scorecard of the local results at ``preset``. With ``strict``: non-zero when a claim failed, a
    notebook has no result, or the gate finds a difference (``ftscope.book.gate``). At ``smoke`` the gate is the
    smoke gate: every chapter records exactly the claim ids of its ``laptop`` expectation (verdicts at smoke mean
    nothing). Elsewhere, where ``book/expected/<preset>.yml`` exists, a verdict must match its expectation, a
    flip of a claim unsettled in this run or in the committed record (at ``laptop``) being a notice.
    ``write_expected`` writes that file from the results. A result run with overrides is shown as such, and the
    strict gate refuses it unless ``allow_overrides``; the expectation is never written from one."""
    check_preset(preset)
    docs = results(project, preset, echo)
    odd = with_overrides(docs)
    rows = [c for d in docs.values() for c in d["claims"]]
    width = max([len(r["id"]) for r in rows] + [5])
    for r in rows:
        tag = "" if kind_of(r) == "paper" else f" [{kind_of(r)}]"
        echo(f"{r['verdict']:<15} {r['id']:<{width}} ours={fmt_ours(r):<8} paper={fmt(r['paper_value']):<8} "
             + (f"chance={fmt(r['chance'])} " if r.get("chance") is not None else "")
             + f"[{r['criterion']}] {r['chapter']} ({r['reference']})" + (" FRAGILE" if r.get("fragile") else "") + tag
             + (f" (with overrides: {odd[r['chapter']]})" if r["chapter"] in odd else ""))
    missing = [n for n in notebook_names(project) if n not in docs]
    failed = [r["id"] for r in rows if r["verdict"] == "failed"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    echo(f"{len(rows)} claims at {preset}: " + ", ".join(f"{n} {v}" for v, n in counts.items())
         + f"; {sum(bool(r.get('fragile')) for r in rows)} fragile")
    for paper, n in counts_by_paper(docs).items():
        echo(f"  {paper}: " + ", ".join(f"{n[k]} {k}" for k in COUNT_COLUMNS))
    for kind, title in KIND_ROWS.items():
        mine = _counts([r for r in rows if kind_of(r) == kind])
        if any(mine[v] for v in VERDICTS):
            echo(f"  {title.split(' (')[0].lower()}: " + ", ".join(f"{mine[v]} {v}" for v in VERDICTS))
    if missing:
        echo(f"no results at {preset} for: {', '.join(missing)}")
    if write_expected:
        if odd:
            raise ConfigError(f"not writing the expectation from results run with overrides: {', '.join(odd)}")
        if preset == SMOKE:
            raise ConfigError("smoke has no expected verdicts: its gate reads the laptop expectation's claim ids")
        echo(f"wrote {gate.write_expected(project, preset, docs).relative_to(project.root)}")
    gate_preset = records.PRESET if preset == SMOKE else preset
    expected = gate.load_expected(project, gate_preset)
    notices: list[str] = []
    if expected is None:
        changed = []
        echo(f"no expected verdicts at {gate_preset} "
             f"({gate.expected_path(project, gate_preset).relative_to(project.root)})")
    elif preset == SMOKE:
        changed = gate.compare_ids(docs, expected)
        if not changed:
            echo(f"smoke gate: every chapter records exactly the claims of book/expected/{gate_preset}.yml, "
                 "none failed")
    else:
        reference = records.load_all(project) if preset == records.PRESET else None
        changed, notices = gate.compare(docs, expected, reference)
        for line in notices:
            echo(f"notice: the verdict of an unsettled claim flipped: {line}")
        if not changed:
            echo(f"every verdict as expected at {preset}"
                 + (f" ({len(notices)} unsettled claim(s) flipped, listed above)" if notices else ""))
    what = "claims differ from the laptop expectation" if preset == SMOKE else "verdicts differ from the expectation"
    reasons = ([f"claims failed: {', '.join(failed)}"] if failed else []) + (
        [f"notebooks without results: {', '.join(missing)}"] if missing else []) + (
        [f"{what}:\n  " + "\n  ".join(changed)] if changed else []) + (
        [f"results run with overrides: {', '.join(f'{n} ({t})' for n, t in odd.items())} (not the preset's "
         f"reproduction; {ALLOW_OVERRIDES} to gate them anyway)"] if odd and not allow_overrides else [])
    if strict and reasons:
        echo("strict: failing because " + "; ".join(reasons))
        return 1
    if reasons:
        echo("; ".join(reasons))
    return 0


def status_report(project: Project, preset: str | None, echo=print) -> int:
    """Each notebook's last local run (duration, device, cache state) and, at ``laptop``, its committed record."""
    versions = installed_versions()
    presets = [check_preset(preset)] if preset else ["smoke", "laptop", "paper"]
    echo(f"{'notebook':<32} {'preset':<6} {'device':<6} {'seconds':>8}  {'finished (UTC)':<25} cache")
    for p in presets:
        for name in notebook_names(project):
            doc = load_result(project, p, name, echo=lambda _: None, move=False)
            if doc is None and preset is None and not Path(project.results(p) / f"{name}.failed.ipynb").exists():
                continue
            st = state(project, p, name, versions)
            if doc is None:
                echo(f"{name:<32} {p:<6} {'–':<6} {'–':>8}  {'–':<25} {st}")
            else:
                echo(f"{name:<32} {p:<6} {doc['device']:<6} {doc['run']['duration_s']:>8.1f}  "
                     f"{doc['run']['finished']:<25} {st}")
    if records.PRESET in presets:
        echo(f"\ncommitted {records.PRESET} records (book/records/{records.PRESET}/):")
        for name in notebook_names(project):
            record = records.load(project, name)
            if record is None:
                echo(f"{name:<32} no record")
                continue
            changed = records.stale_inputs(project, record)
            echo(f"{name:<32} {record['duration_s']:>8.1f} s  {records.provenance(record)}  "
                 + (f"STALE ({len(changed)} inputs changed)" if changed else "fresh"))
    if line := leftovers_line(project):
        echo(f"\n{line}")
    return 0
