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
    assert code == 0 and ("unsettled claim flipped: toy_chapter/b: not reproduced expected, reproduced now "
                          "(marked fragile: AVX-512)") in out
    write_results(gated, {"a": "reproduced", "b": "failed"})
    assert strict(gated)[0] == 1  # a failed claim is never excused
    # rewriting the expectation keeps the fragile mark
    write_results(gated, {"a": "reproduced", "b": "reproduced"})
    claims_report(gated, "laptop", strict=False, echo=lambda *_: None, write_expected=True)
    assert gate.load_expected(gated, "laptop")["toy_chapter"]["b"] == gate.Expected("reproduced", "AVX-512")


def seeded(cid: str, seeds: list[float], bound: float = 0.75) -> dict:
    """A claim judged ``>= bound`` on per-seed values, as ``make_claim`` records it."""
    from ftscope.book.claims import at_least, make_claim

    return make_claim(id=cid, chapter="07_x", paper="zhang2024", reference="Sec. 4", statement="s", paper_value=None,
                      ours=seeds, criterion=at_least(bound)).to_dict()


def test_fragility_does_not_depend_on_which_machine_wrote_the_expectation():
    # the case: one machine recorded seeds 0.70-0.74 (not reproduced), another 0.748-0.812 (reproduced)
    one = {"07_x": {"claims": [seeded("independence", [0.70, 0.72, 0.74]), seeded("clear", [0.2, 0.25, 0.3])]}}
    other = {"07_x": {"claims": [seeded("independence", [0.748, 0.812, 0.782]), seeded("clear", [0.9, 0.95, 1.0])]}}
    assert gate.unsettled(one["07_x"]["claims"][0]).startswith("mean 0.72 within the seeds' spread")
    assert gate.unsettled(other["07_x"]["claims"][0]) == "2/3 seeds meet the criterion"
    assert gate.unsettled(one["07_x"]["claims"][1]) == gate.unsettled(other["07_x"]["claims"][1]) == ""
    for writer, gated in ((one, other), (other, one)):  # whichever machine wrote the expectation
        expected = {"07_x": {c["id"]: gate.Expected(c["verdict"]) for c in writer["07_x"]["claims"]}}
        failures, notices = gate.compare(gated, expected, reference=writer)
        assert [n.split(":")[0] for n in notices] == ["07_x/independence"]
        assert failures == [f"07_x/clear: {writer['07_x']['claims'][1]['verdict']} expected, "
                            f"{gated['07_x']['claims'][1]['verdict']} now (clear of its criterion in both runs)"]
    # unsettled in the reference run only (the gated run is clear of the bound): still a notice
    clear_now = {"07_x": {"claims": [seeded("independence", [0.9, 0.95, 1.0])]}}
    expected = {"07_x": {"independence": gate.Expected("not reproduced")}}
    assert gate.compare(clear_now, expected)[0]  # without the reference run, a failure
    failures, notices = gate.compare(clear_now, expected, reference=one)
    assert not failures and "reference run: mean 0.72" in notices[0]


def test_the_smoke_gate_reads_the_laptop_expectation_s_claim_ids(gated):
    # the laptop expectation (a, b); a smoke run must record exactly those ids, none failed, whatever the verdicts
    write_results(gated, {"a": "not reproduced", "b": "inconclusive"}, preset="smoke")
    lines = []
    assert claims_report(gated, "smoke", strict=True, echo=lines.append) == 0
    assert any("smoke gate: every chapter records exactly the claims" in line for line in lines)
    for now, message in (({"a": "reproduced"}, "toy_chapter/b: in the expectation, but not recorded"),
                         ({"a": "reproduced", "b": "failed"}, "toy_chapter/b: failed"),
                         ({"a": "reproduced", "b": "reproduced", "c": "reproduced"},
                          "toy_chapter/c: recorded, but not in the expectation")):
        write_results(gated, now, preset="smoke")
        lines = []
        assert claims_report(gated, "smoke", strict=True, echo=lines.append) == 1
        assert message in "\n".join(lines)


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
    assert "3 claims of the papers, 1 reproduced, 1 not reproduced, 1 inconclusive, 0 failed; 1 fragile" in md
    jain = md[md.index("Jain et al."):md.index("Horn &")]
    for badge in ("1 reproduced", "1 inconclusive", "1 fragile", "1 not attempted"):
        assert badge in jain
    assert "not reproduced" not in jain.split("</tr>")[0]  # no zero-count badges
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr id="claim-(\w+)" data-miss="(\d)"', md)}
    assert rows == {"a": "1", "b": "1", "c": "1"}  # fragile, inconclusive and not reproduced are all misses
    assert "fragile 1/2" in md and "chance 0.42" in md and 'id="sc-misses-only"' in md
    assert "App. E.1" in md and "<p>y</p>" in md
    assert "Table 3 says so" in report.criteria_markdown(None, "laptop")


def _kinded(id, kind, verdict, paper="jain2024"):
    return {"id": id, "chapter": "c1", "paper": paper, "reference": "T", "statement": "s", "paper_value": None,
            "ours": 1.0, "criterion": ">= 1", "verdict": verdict, **({} if kind == "paper" else {"kind": kind})}


def test_per_paper_counts_hold_only_paper_claims_and_the_others_have_their_own_rows(monkeypatch):
    from ftscope.book import report

    claims = [_kinded("a", "paper", "reproduced"), _kinded("b", "precondition", "reproduced"),
              _kinded("c", "hypothesis", "not reproduced"), _kinded("d", "hypothesis", "reproduced", "zhang2024")]
    docs = {"c1": {"notebook": "c1", "claims": claims}}
    counts = report.counts_by_paper(docs)
    assert counts == {"jain2024": {"reproduced": 1, "not reproduced": 0, "inconclusive": 0, "failed": 0,
                                   "fragile": 0, "not attempted": 0}}  # zhang has only a hypothesis: no row
    assert report.counts_by_kind(docs, "hypothesis")["c1"]["not reproduced"] == 1
    monkeypatch.setattr(report, "results", lambda project, preset: docs)
    md = report.scorecard_markdown(None, "laptop")
    assert md.startswith("Preset **laptop**: 1 claims of the papers, 1 reproduced, 0 not reproduced")
    assert "2 hypotheses of our own beyond the papers: 1 reproduced, 1 not reproduced." in md
    assert "1 preconditions that gate them: 1 reproduced." in md
    summary = md[md.index('id="sc-summary"'):md.index("</table>")]
    jain = summary[summary.index("Jain et al."):summary.index("Beyond the papers")]
    assert "1 reproduced" in jain and "not reproduced" not in jain and "Zhang" not in summary
    beyond = summary[summary.index("Beyond the papers"):summary.index("Preconditions")]
    assert "1 not reproduced" in beyond and "1 reproduced" in beyond
    assert 'sc-badge sc-precondition">precondition' in md and 'sc-badge sc-hypothesis">hypothesis' in md
    table = md[md.index('id="sc-c1"'):]
    assert table.index('id="claim-b"') < table.index('id="claim-a"') < table.index('id="claim-c"')


def test_a_change_of_kind_fails_the_gate_and_the_kind_round_trips(toy_project):
    write_results(toy_project, {"a": "reproduced", "b": "not reproduced"})
    doc_path = toy_project.results("laptop") / "toy_chapter.json"
    doc = json.loads(doc_path.read_text())
    doc["claims"][1]["kind"] = "hypothesis"
    doc_path.write_text(json.dumps(doc))
    assert claims_report(toy_project, "laptop", strict=False, echo=lambda *_: None, write_expected=True) == 0
    assert gate.load_expected(toy_project, "laptop")["toy_chapter"] == {
        "a": gate.Expected("reproduced"), "b": gate.Expected("not reproduced", kind="hypothesis")}
    assert strict(toy_project)[0] == 0
    doc["claims"][1].pop("kind")  # now a paper claim: the expectation says hypothesis
    doc_path.write_text(json.dumps(doc))
    code, out = strict(toy_project)
    assert code == 1 and "toy_chapter/b: kind hypothesis expected, paper now" in out
    assert gate.compare_ids({"toy_chapter": doc}, gate.load_expected(toy_project, "laptop")) == [
        "toy_chapter/b: kind hypothesis expected, paper now"]
