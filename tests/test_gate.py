"""The verdict gate: a changed, new or vanished claim fails `ftscope claims --strict`; a fragile flip does not."""

import json
import re

import pytest

from ftscope.book import gate
from ftscope.book.report import claims_report
from ftscope.paths import Project


def write_results(project: Project, claims: dict[str, str], preset: str = "laptop", chapter: str = "toy_chapter"):
    """A results file for ``chapter`` whose claims have the given verdicts (``{id: verdict}``)."""
    rows = [{"id": cid, "chapter": chapter, "paper": "jain2024", "reference": "Table 3", "statement": "s",
             "paper_value": 1.0, "ours": 1.0 if v == "reproduced" else (None if v == "failed" else 0.0),
             "criterion": ">= 0.5", "verdict": v, "note": ""} for cid, v in claims.items()]
    doc = {"schema": 1, "notebook": chapter, "preset": preset, "device": "cpu", "seed": 0,
           "parameters": {"preset": preset, "device": "cpu", "seed": 0, "overrides": {}}, "status": "ok",
           "claims": rows, "run": {"commit": "x", "versions": {}, "duration_s": 1.0, "finished": "now",
                                    "cache_key": "0" * 64}}
    project.results(preset).mkdir(parents=True, exist_ok=True)
    (project.results(preset) / f"{chapter}.json").write_text(json.dumps(doc))


def strict(project: Project) -> tuple[int, str]:
    lines = []
    code = claims_report(project, "laptop", strict=True, echo=lines.append)
    return code, "\n".join(lines)


@pytest.fixture
def gated(toy_project):
    write_results(toy_project, {"a": "reproduced", "b": "not reproduced"})
    assert claims_report(toy_project, "laptop", strict=False, echo=lambda *_: None, write_expected=True) == 0
    return toy_project


def test_written_expectation_passes_and_reads_back(gated):
    assert gate.load_expected(gated, "laptop") == {"toy_chapter": {"a": gate.Expected("reproduced"),
                                                               "b": gate.Expected("not reproduced")}}
    code, out = strict(gated)
    assert code == 0 and "every verdict as expected" in out


@pytest.mark.parametrize("now, message", [
    ({"a": "not reproduced", "b": "not reproduced"}, "toy_chapter/a: reproduced expected, not reproduced now"),
    ({"a": "reproduced", "b": "not reproduced", "c": "reproduced"}, "toy_chapter/c: new claim"),
    ({"a": "reproduced"}, "toy_chapter/b: expected (not reproduced), but no longer recorded"),
])
def test_a_changed_verdict_or_claim_fails_strict_and_is_printed(gated, now, message):
    write_results(gated, now)
    code, out = strict(gated)
    assert code == 1 and message in out


def test_a_fragile_claim_may_flip_but_not_fail(gated):
    path = gate.expected_path(gated, "laptop")
    path.write_text(path.read_text().replace("b: not reproduced", "b: {verdict: not reproduced, fragile: 'AVX-512'}"))
    write_results(gated, {"a": "reproduced", "b": "reproduced"})
    code, out = strict(gated)
    assert code == 0 and "fragile claim: toy_chapter/b: not reproduced expected, reproduced now (fragile: AVX-512)" in out
    write_results(gated, {"a": "reproduced", "b": "failed"})
    assert strict(gated)[0] == 1  # a failed claim is never excused
    # rewriting the expectation keeps the fragile mark
    write_results(gated, {"a": "reproduced", "b": "reproduced"})
    claims_report(gated, "laptop", strict=False, echo=lambda *_: None, write_expected=True)
    assert gate.load_expected(gated, "laptop")["toy_chapter"]["b"] == gate.Expected("reproduced", "AVX-512")


def test_no_expectation_file_gates_nothing_but_failures(toy_project):
    write_results(toy_project, {"a": "not reproduced"})
    code, out = strict(toy_project)
    assert code == 0 and "no expected verdicts at laptop" in out
    write_results(toy_project, {"a": "failed"})
    assert strict(toy_project)[0] == 1


def test_a_bad_expected_verdict_names_the_valid_ones(gated):
    gate.expected_path(gated, "laptop").write_text("toy_chapter:\n  a: passed\n")
    with pytest.raises(ValueError, match="reproduced"):
        gate.load_expected(gated, "laptop")


def test_the_scorecard_counts_per_paper_and_lists_what_is_not_attempted(tmp_path, monkeypatch):
    from ftscope.book import report

    claims = [{"id": "a", "chapter": "c1", "paper": "jain2024", "reference": "T", "statement": "s",
               "paper_value": None, "ours": 0.5, "criterion": ">= 0", "verdict": "reproduced", "fragile": True,
               "seeds": [0.5, -0.1], "seeds_meeting": 1, "spread": [-0.1, 0.5]},
              {"id": "b", "chapter": "c1", "paper": "jain2024", "reference": "T", "statement": "s",
               "paper_value": None, "ours": 0.5, "criterion": ">= 0", "verdict": "inconclusive", "chance": 0.42,
               "basis": "Table 3 says so"},
              {"id": "c", "chapter": "c2", "paper": "horn2024", "reference": "T", "statement": "s",
               "paper_value": None, "ours": 0.5, "criterion": ">= 0", "verdict": "not reproduced"}]
    docs = {"c1": {"notebook": "c1", "claims": claims[:2],
                   "not_attempted": [{"paper": "jain2024", "reference": "App. E.1", "statement": "x", "why": "y"}]},
            "c2": {"notebook": "c2", "claims": claims[2:]}}
    counts = report.counts_by_paper(docs)
    assert counts["jain2024"] == {"reproduced": 1, "not reproduced": 0, "inconclusive": 1, "failed": 0,
                                  "fragile": 1, "not attempted": 1}
    assert counts["horn2024"]["not reproduced"] == 1 and counts["horn2024"]["not attempted"] == 0
    monkeypatch.setattr(report, "results", lambda project, preset: docs)
    md = report.scorecard_markdown(None, "laptop")
    assert "3 claims, 1 reproduced, 1 not reproduced, 1 inconclusive, 0 failed; 1 fragile" in md
    jain = md[md.index("Jain et al."):md.index("Horn &")]
    for badge in ("1 reproduced", "1 inconclusive", "1 fragile", "1 not attempted"):
        assert badge in jain
    assert "not reproduced" not in jain.split("</tr>")[0]  # no zero-count badges
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr id="claim-(\w+)" data-miss="(\d)"', md)}
    assert rows == {"a": "1", "b": "1", "c": "1"}  # fragile, inconclusive and not reproduced are all misses
    assert "fragile 1/2" in md and "chance 0.42" in md and 'id="sc-misses-only"' in md
    assert "App. E.1" in md and "<p>y</p>" in md
    assert "Table 3 says so" in report.criteria_markdown(None, "laptop")
