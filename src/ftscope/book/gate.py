"""The verdict gate: the expected verdict of every claim, per preset, committed beside the book.

``book/expected/<preset>.yml`` maps each chapter to its claims and each claim to the verdict it is
expected to have. ``ftscope claims --strict`` compares the results with it and fails when a verdict
differs, a claim appears or disappears, or a chapter is missing; it prints every difference. A claim
marked ``fragile`` (its verdict flips with floating-point details: the CPU's vector unit, the thread
count) passes with either verdict, and a flip is reported. Changing the file is a deliberate commit
that says why; ``ftscope claims --write-expected`` writes it from the present results, keeping the
fragile marks and their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ftscope.book.claims import VERDICTS
from ftscope.paths import Project

HEADER = """\
# Expected verdicts at the `{preset}` preset, one per claim, by chapter (see ftscope.book.gate).
# `ftscope claims --preset {preset} --strict` fails when a verdict differs from its line here, or a
# claim appears or disappears. Change a line on purpose, and say why in the commit message.
# `{{verdict: ..., fragile: <why>}}` marks a claim whose verdict flips with floating-point details
# (CPU, thread count): either verdict passes, and a flip is reported.
"""


@dataclass(frozen=True)
class Expected:
    verdict: str
    fragile: str = ""  # why the verdict may flip; empty when it may not


def expected_path(project: Project, preset: str) -> Path:
    return project.root / "book" / "expected" / f"{preset}.yml"


def _entry(chapter: str, claim: str, value: Any) -> Expected:
    verdict, fragile = (value, "") if isinstance(value, str) else (value.get("verdict"), value.get("fragile", ""))
    if verdict not in VERDICTS:
        raise ValueError(f"expected verdict of {chapter}/{claim} is {verdict!r}; valid: {', '.join(VERDICTS)}")
    return Expected(verdict, str(fragile or ""))


def load_expected(project: Project, preset: str) -> dict[str, dict[str, Expected]] | None:
    """``{chapter: {claim id: Expected}}``, or None when the preset has no expectation file."""
    path = expected_path(project, preset)
    if not path.exists():
        return None
    doc = yaml.safe_load(path.read_text()) or {}
    return {chapter: {claim: _entry(chapter, claim, v) for claim, v in (claims or {}).items()}
            for chapter, claims in doc.items()}


def compare(docs: dict[str, dict[str, Any]], expected: dict[str, dict[str, Expected]]) -> tuple[list[str], list[str]]:
    """``(failures, notices)`` of the results ``docs`` (by chapter) against ``expected``."""
    failures, notices = [], []
    for chapter in sorted(set(expected) | set(docs)):
        if chapter not in docs:
            failures.append(f"{chapter}: expected, but there are no results")
            continue
        if chapter not in expected:
            failures.append(f"{chapter}: has results but no expected verdicts")
            continue
        got = {c["id"]: c["verdict"] for c in docs[chapter]["claims"]}
        want = expected[chapter]
        for claim in sorted(set(got) - set(want)):
            failures.append(f"{chapter}/{claim}: new claim ({got[claim]}), not in the expectation")
        for claim in sorted(set(want) - set(got)):
            failures.append(f"{chapter}/{claim}: expected ({want[claim].verdict}), but no longer recorded")
        for claim in sorted(set(got) & set(want)):
            if got[claim] == want[claim].verdict:
                continue
            line = f"{chapter}/{claim}: {want[claim].verdict} expected, {got[claim]} now"
            if want[claim].fragile and got[claim] != "failed":
                notices.append(f"{line} (fragile: {want[claim].fragile})")
            else:
                failures.append(line)
    return failures, notices


def write_expected(project: Project, preset: str, docs: dict[str, dict[str, Any]]) -> Path:
    """Write the expectation file from ``docs``, keeping the fragile marks already in it."""
    old = load_expected(project, preset) or {}
    body: dict[str, dict[str, Any]] = {}
    for chapter, doc in docs.items():
        body[chapter] = {}
        for c in doc["claims"]:
            fragile = old.get(chapter, {}).get(c["id"], Expected(c["verdict"])).fragile
            body[chapter][c["id"]] = {"verdict": c["verdict"], "fragile": fragile} if fragile else c["verdict"]
    path = expected_path(project, preset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(preset=preset)
                    + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120))
    return path
