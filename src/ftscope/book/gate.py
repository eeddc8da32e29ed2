"""The verdict gate: the expected verdict of every claim, per preset, committed beside the book.

``book/expected/<preset>.yml`` maps each chapter to its claims and each claim to the verdict it is
expected to have. ``ftscope claims --strict`` compares the results with it and fails when a verdict
differs, a claim appears or disappears, or a chapter is missing; it prints every difference.

A verdict may flip with floating-point details (the CPU's vector unit, the thread count) only where it sits
on its criterion's edge, and that must not depend on which machine wrote the expectation. So a flip is a
*notice*, not a failure, when the claim is unsettled in either run, the one being gated or the reference
run that wrote the expectation (the committed reproduction record): its seeds fall on both sides of the
bound, or its mean lies within the seeds' spread of it (``unsettled``). A claim marked ``fragile`` in the
file, with the evidence (a flip the numbers above cannot show, such as a run crossing its convergence
level), may flip too. A flip of a claim that is clear in both runs fails, and so does a ``failed`` claim.

Changing the file is a deliberate commit that says why; ``ftscope claims --write-expected`` writes it from
the present results, keeping the fragile marks and their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ftscope.book.claims import KINDS, VERDICTS
from ftscope.paths import Project

HEADER = """\
# Expected verdicts at the `{preset}` preset, one per claim, by chapter (see ftscope.book.gate).
# `ftscope claims --preset {preset} --strict` fails when a verdict differs from its line here, or a
# claim appears or disappears. Change a line on purpose, and say why in the commit message.
# `{{verdict: ..., fragile: <why>}}` marks a claim whose verdict flips with floating-point details
# (CPU, thread count): either verdict passes, and a flip is reported. `kind: precondition|hypothesis` marks a
# claim that is not one of the paper's results (the scorecard counts it apart); a change of kind fails too.
"""


@dataclass(frozen=True)
class Expected:
    verdict: str
    fragile: str = ""  # why the verdict may flip; empty when it may not
    kind: str = "paper"  # claims.KINDS


def kind_of(claim: dict[str, Any]) -> str:
    """A recorded claim's kind (``claims.KINDS``); a record written before kinds existed holds paper claims."""
    return claim.get("kind", "paper")


def _kind_changes(chapter: str, got: dict[str, dict[str, Any]], want: dict[str, Expected]) -> list[str]:
    """A failure line for each claim (``got``, by id) whose kind is not the expected one."""
    return [f"{chapter}/{c}: kind {want[c].kind} expected, {kind_of(got[c])} now"
            for c in sorted(set(got) & set(want)) if kind_of(got[c]) != want[c].kind]


def expected_path(project: Project, preset: str) -> Path:
    return project.root / "book" / "expected" / f"{preset}.yml"


def _entry(chapter: str, claim: str, value: Any) -> Expected:
    verdict, fragile, kind = ((value, "", "paper") if isinstance(value, str) else
                              (value.get("verdict"), value.get("fragile", ""), value.get("kind", "paper")))
    if verdict not in VERDICTS:
        raise ValueError(f"expected verdict of {chapter}/{claim} is {verdict!r}; valid: {', '.join(VERDICTS)}")
    if kind not in KINDS:
        raise ValueError(f"expected kind of {chapter}/{claim} is {kind!r}; valid: {', '.join(KINDS)}")
    return Expected(verdict, str(fragile or ""), kind)


def load_expected(project: Project, preset: str) -> dict[str, dict[str, Expected]] | None:
    """``{chapter: {claim id: Expected}}``, or None when the preset has no expectation file."""
    path = expected_path(project, preset)
    if not path.exists():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    return {chapter: {claim: _entry(chapter, claim, v) for claim, v in (claims or {}).items()}
            for chapter, claims in doc.items()}


def unsettled(claim: dict[str, Any] | None) -> str:
    """Why ``claim``'s verdict may differ on another machine ('' when it is clear of its criterion's bounds):
    its seeds fall on both sides of a bound, or its mean lies within the seeds' spread of one."""
    if not claim:
        return ""
    seeds, meeting = claim.get("seeds") or [], claim.get("seeds_meeting")
    if meeting is not None and 0 < meeting < len(seeds):
        return f"{meeting}/{len(seeds)} seeds meet the criterion"
    spread, bounds, ours = claim.get("spread"), claim.get("bounds"), claim.get("ours")
    if spread and bounds and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        width = spread[1] - spread[0]
        bound = min(bounds, key=lambda b: abs(ours - b))
        if abs(ours - bound) <= width:
            return f"mean {ours:.3g} within the seeds' spread ({width:.3g}) of the bound {bound:g}"
    return ""


def compare(docs: dict[str, dict[str, Any]], expected: dict[str, dict[str, Expected]],
            reference: dict[str, dict[str, Any]] | None = None) -> tuple[list[str], list[str]]:
    """``(failures, notices)`` of the results ``docs`` (by chapter) against ``expected``. ``reference``: the run
    that wrote the expectation (by chapter), whose unsettled claims may flip as well as the gated run's."""
    failures, notices = [], []
    for chapter in sorted(set(expected) | set(docs)):
        if chapter not in docs:
            failures.append(f"{chapter}: expected, but there are no results")
            continue
        if chapter not in expected:
            failures.append(f"{chapter}: has results but no expected verdicts")
            continue
        got = {c["id"]: c for c in docs[chapter]["claims"]}
        ref = {c["id"]: c for c in (reference or {}).get(chapter, {}).get("claims", [])}
        want = expected[chapter]
        for claim in sorted(set(got) - set(want)):
            failures.append(f"{chapter}/{claim}: new claim ({got[claim]['verdict']}), not in the expectation")
        for claim in sorted(set(want) - set(got)):
            failures.append(f"{chapter}/{claim}: expected ({want[claim].verdict}), but no longer recorded")
        failures += _kind_changes(chapter, got, want)
        for claim in sorted(set(got) & set(want)):
            verdict = got[claim]["verdict"]
            if verdict == want[claim].verdict:
                continue
            line = f"{chapter}/{claim}: {want[claim].verdict} expected, {verdict} now"
            why = []
            if here := unsettled(got[claim]):
                why.append(f"this run: {here}")
            if there := unsettled(ref.get(claim)):
                why.append(f"reference run: {there}")
            if want[claim].fragile:
                why.append(f"marked fragile: {want[claim].fragile}")
            if why and verdict != "failed":
                notices.append(f"{line} ({'; '.join(why)})")
            else:
                failures.append(line + (" (clear of its criterion in both runs)" if verdict != "failed" else ""))
    return failures, notices


def compare_ids(docs: dict[str, dict[str, Any]], expected: dict[str, dict[str, Expected]]) -> list[str]:
    """The smoke gate: every chapter records exactly the claim ids of its expectation (``expected``, the
    ``laptop`` one) and none is ``failed``. Verdicts at ``smoke`` mean nothing; that every path runs does."""
    failures = []
    for chapter in sorted(set(expected) | set(docs)):
        if chapter not in docs:
            failures.append(f"{chapter}: expected, but there are no results")
            continue
        got = {c["id"]: c for c in docs[chapter]["claims"]}
        want = expected.get(chapter, {})
        failures += [f"{chapter}/{c}: recorded, but not in the expectation" for c in sorted(set(got) - set(want))]
        failures += [f"{chapter}/{c}: in the expectation, but not recorded" for c in sorted(set(want) - set(got))]
        failures += [f"{chapter}/{c}: failed" for c, v in sorted(got.items()) if v["verdict"] == "failed"]
        failures += _kind_changes(chapter, got, want)
    return failures


def write_expected(project: Project, preset: str, docs: dict[str, dict[str, Any]]) -> Path:
    """Write the expectation file from ``docs``, keeping the fragile marks already in it."""
    old = load_expected(project, preset) or {}
    body: dict[str, dict[str, Any]] = {}
    for chapter, doc in docs.items():
        body[chapter] = {}
        for c in doc["claims"]:
            fragile = old.get(chapter, {}).get(c["id"], Expected(c["verdict"])).fragile
            entry = {"verdict": c["verdict"]}
            if kind_of(c) != "paper":
                entry["kind"] = c["kind"]
            if fragile:
                entry["fragile"] = fragile
            body[chapter][c["id"]] = entry if len(entry) > 1 else c["verdict"]
    path = expected_path(project, preset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(preset=preset)
                    + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120))
    return path
