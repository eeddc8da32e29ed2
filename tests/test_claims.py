import copy
import math

import jsonschema
import nbformat
import numpy as np
import pytest

from ftscope.book.claims import (
    CLAIM_SCHEMA,
    GLUE_PREFIX,
    RECORD_NAME,
    above,
    at_floor,
    at_least,
    at_most,
    below,
    between,
    fmt_ours,
    is_true,
    make_claim,
    read_record,
    validate_result,
    verdict_text,
    within,
)


def claim(**kw):
    args = dict(id="count_a", chapter="01_x", paper="jain2024", reference="Table 3", statement="s",
                paper_value=0.9, ours=0.95, criterion=at_least(0.8))
    args.update(kw)
    return make_claim(**args)


def test_criteria():
    assert at_least(0.5).check(0.5) and not at_least(0.5).check(0.49)
    assert at_most(0.1).check(0.0) and not at_most(0.1).check(0.2)
    assert between(1, 2).check(1.5) and not between(1, 2).check(2.5)
    assert within(10, 1).check(10.9) and not within(10, 1).check(11.5)
    assert is_true().check(True) and not is_true().check(1)
    assert at_least(0.8).describe() == ">= 0.8"
    with pytest.raises(TypeError):
        at_least(0.1).check("high")


def test_verdicts_come_from_the_criterion():
    assert claim().verdict == "reproduced"
    assert claim(ours=0.1).verdict == "not reproduced"
    assert claim(ours=math.nan).verdict == "failed"
    assert claim(ours=None).verdict == "failed"
    assert claim(ours=math.nan).to_dict()["ours"] is None


def test_bad_claims_are_refused():
    with pytest.raises(ValueError, match="valid choices"):
        claim(paper="smith2020")
    with pytest.raises(ValueError, match="must match"):
        claim(id="Count A")


def good_result():
    return {
        "schema": 1, "notebook": "01_x", "preset": "laptop", "device": "cpu", "seed": 0,
        "parameters": {"preset": "laptop", "device": "cpu", "seed": 0, "overrides": {}}, "status": "ok",
        "claims": [claim().to_dict()],
        "run": {"commit": "abc", "versions": {"torch": "2.13.0"}, "duration_s": 1.0,
                "finished": "2026-11-22T00:00:00+00:00", "cache_key": "0" * 64},
    }


@pytest.mark.parametrize("breakage", [
    lambda d: d["claims"][0].update(verdict="sort of"),
    lambda d: d["claims"][0].pop("ours"),
    lambda d: d["claims"][0].update(extra=1),
    lambda d: d.update(preset="fast"),
    lambda d: d["run"].update(cache_key="xyz"),
    lambda d: d["claims"].append(copy.deepcopy(d["claims"][0])),  # duplicate id
])
def test_result_schema(breakage):
    doc = good_result()
    validate_result(doc)
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate_result(doc)


def test_record_round_trip_through_a_notebook():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ch.finish()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={GLUE_PREFIX + "text/plain": '{"claims": []}'},
                                           metadata={"scrapbook": {"name": RECORD_NAME, "mime_prefix": GLUE_PREFIX}})]
    nb.cells.append(cell)
    assert read_record(nb) == {"claims": []}
    assert read_record(nbformat.v4.new_notebook()) is None


def test_chapter_glues_named_numbers_and_config_fields(monkeypatch):
    from ftscope.book.chapter import Chapter
    from ftscope.jain.compiled import TracrConfig

    glued = {}
    monkeypatch.setattr(Chapter, "glue", lambda self, name, value, display=False: glued.setdefault(name, value))
    ch = Chapter("toy", TracrConfig, preset="smoke", device="cpu", seed=0)
    facts = {"a": 1, "b": "x"}
    assert ch.glue_all(facts) == facts and glued == facts
    ch.glue_config(ch.cfg, ["steps", "batch"], prefix="ours_")
    assert glued["ours_steps"] == ch.cfg.steps == 20 and glued["ours_batch"] == ch.cfg.batch


def seeded(ours, criterion):
    return make_claim(id="c", chapter="ch", paper="jain2024", reference="Table 3", statement="s", paper_value=0.9,
                      ours=ours, criterion=criterion)


def test_a_claim_on_seeds_records_each_seed_the_mean_spread_and_how_many_meet_it():
    c = seeded([0.95, 0.85, 0.92], at_least(0.9))
    assert c.seeds == [0.95, 0.85, 0.92] and c.spread == [0.85, 0.95] and c.seeds_meeting == 2
    assert c.ours == pytest.approx(0.9066666) and c.verdict == "reproduced"
    assert seeded([0.95, 0.8, 0.82], at_least(0.9)).verdict == "not reproduced"  # the mean is judged
    assert seeded([np.float32(0.5), 0.7], at_most(0.6)).seeds_meeting == 1  # numpy scalars become plain numbers
    d = c.to_dict()
    assert d["seeds"] == [0.95, 0.85, 0.92] and "spread" in d
    assert "seeds" not in seeded(0.9, at_least(0.9)).to_dict()  # a single value carries no seed fields
    assert fmt_ours(d) == "0.907 [0.85–0.95], 2/3 seeds meet it"


def test_boolean_seeds_hold_only_when_every_seed_holds_and_missing_seeds_fail():
    c = seeded([True, False, True], is_true())
    assert c.ours is False and c.seeds_meeting == 2 and c.verdict == "not reproduced"
    assert seeded([True, True], is_true()).verdict == "reproduced"
    assert seeded([0.9, float("nan")], at_least(0.5)).verdict == "failed"
    with pytest.raises(ValueError, match="at least one"):
        seeded([], at_least(0.5))
    with pytest.raises(TypeError, match="all numbers or all booleans"):
        seeded([True, 0.5], at_least(0.5))


def test_seeded_claims_validate_against_the_results_schema():
    jsonschema.validate(seeded([0.9, 0.8], at_least(0.5)).to_dict(), CLAIM_SCHEMA)
    jsonschema.validate(seeded([True, False], is_true()).to_dict(), CLAIM_SCHEMA)


def test_seeds_that_disagree_make_a_claim_fragile():
    c = seeded([0.95, 0.85, 0.92], at_least(0.9))
    assert c.fragile and c.to_dict()["fragile"] is True
    assert verdict_text(c.to_dict()) == "reproduced, fragile (2/3 seeds meet it)"
    assert not seeded([0.95, 0.91], at_least(0.9)).fragile and not seeded([0.5, 0.6], at_least(0.9)).fragile
    assert "fragile" not in seeded([0.95, 0.91], at_least(0.9)).to_dict()


def test_an_unconverged_run_makes_the_claim_inconclusive_not_a_miss():
    c = seeded([0.2, 0.95, 0.97], at_least(0.9))
    assert c.verdict == "not reproduced"
    c = make_claim(id="c", chapter="ch", paper="jain2024", reference="T", statement="s", paper_value=None,
                   ours=[0.2, 0.95, 0.97], criterion=at_least(0.9), converged=[False, True, True], note="n")
    assert c.verdict == "inconclusive" and c.converged == [False, True, True] and not c.fragile
    assert c.note.startswith("not converged: 2/3 runs") and c.note.endswith("; n")
    converged = make_claim(id="c", chapter="ch", paper="jain2024", reference="T", statement="s", paper_value=None,
                           ours=0.5, criterion=at_least(0.9), converged=True)
    assert converged.verdict == "not reproduced" and converged.converged == [True]
    why = make_claim(id="c", chapter="ch", paper="jain2024", reference="T", statement="s", paper_value=None,
                     ours=0.0, criterion=at_least(1.0), inconclusive="neither run reached the level")
    assert why.verdict == "inconclusive" and why.note == "neither run reached the level"
    broken = make_claim(id="c", chapter="ch", paper="jain2024", reference="T", statement="s", paper_value=None,
                        ours=float("nan"), criterion=at_least(1.0), converged=False)
    assert broken.verdict == "failed"  # something broke outranks inconclusive
    jsonschema.validate(c.to_dict(), CLAIM_SCHEMA)


def test_criteria_against_chance_say_where_their_number_comes_from():
    up, down = above(0.42, 0.1), below(0.42, 0.1)
    assert up.check(0.53) and not up.check(0.51) and up.describe() == ">= chance + 0.1 (= 0.52)"
    assert down.check(0.31) and not down.check(0.33) and down.describe() == "<= chance - 0.1 (= 0.32)"
    c = claim(ours=0.6, criterion=up, chance=np.float64(0.42))
    assert c.chance == 0.42 and c.to_dict()["chance"] == 0.42 and c.verdict == "reproduced"
    assert "chance" not in claim().to_dict()
    jsonschema.validate(c.to_dict(), CLAIM_SCHEMA)


def test_a_chapter_records_what_it_does_not_attempt():
    from ftscope.book.chapter import Chapter
    from ftscope.jain.compiled import TracrConfig

    ch = Chapter("toy", TracrConfig, preset="smoke", device="cpu", seed=0)
    ch.skip(paper="jain2024", reference="App. E.1", statement="x", why="needs y")
    assert ch.record()["not_attempted"] == [{"paper": "jain2024", "reference": "App. E.1", "statement": "x",
                                            "why": "needs y"}]
    with pytest.raises(ValueError, match="say why"):
        ch.skip(paper="jain2024", reference="E.2", statement="x", why=" ")
    with pytest.raises(ValueError, match="valid choices"):
        ch.skip(paper="nobody", reference="E.2", statement="x", why="y")


def test_a_claim_kind_is_validated_and_recorded():
    assert claim().kind == "paper" and claim().to_dict()["kind"] == "paper" and "needs" not in claim().to_dict()
    with pytest.raises(ValueError, match="precondition"):
        claim(kind="beyond")
    d = claim(kind="hypothesis", needs=["base_ok"]).to_dict()
    assert d["kind"] == "hypothesis" and d["needs"] == ["base_ok"]
    jsonschema.validate(d, CLAIM_SCHEMA)
    old = claim().to_dict()
    old.pop("kind")
    jsonschema.validate(old, CLAIM_SCHEMA)  # a record written before kinds: a paper claim


def test_a_claim_under_a_precondition_that_does_not_hold_is_inconclusive(monkeypatch):
    from ftscope.book.chapter import Chapter
    from ftscope.config import ChapterConfig

    monkeypatch.setattr(Chapter, "glue", lambda self, name, value, display=False: value)
    ch = Chapter("01_x", ChapterConfig, preset="smoke", device="cpu", seed=0)
    base = dict(paper="jain2024", reference="T", statement="s", paper_value=None, criterion=at_least(0.5))
    ch.claim(id="base_ok", kind="precondition", ours=0.9, **base)
    ch.claim(id="base_bad", kind="precondition", ours=0.1, **base)
    assert ch.claim(id="held", needs=["base_ok"], ours=0.9, **base).verdict == "reproduced"
    gated = ch.claim(id="gated", needs=["base_ok", "base_bad"], ours=0.9, inconclusive="", **base)
    assert gated.verdict == "inconclusive" and gated.note == "precondition base_bad is not reproduced"
    assert ch.claim(id="broken", needs=["base_bad"], ours=float("nan"), **base).verdict == "failed"
    with pytest.raises(ValueError, match="not recorded before it"):
        ch.claim(id="early", needs=["later"], ours=0.9, **base)
    with pytest.raises(ValueError, match="not a precondition"):
        ch.claim(id="chained", needs=["held"], ours=0.9, **base)
    assert list(ch.claims_frame()["kind"]) == ["precondition", "precondition", "paper", "paper", "paper"]


def test_a_tie_at_the_floor_is_named_and_a_gap_is_not():
    assert at_floor([0.0, 0.01, 0.0], 0.0, 0.05) == "a tie at the floor (0): every value within 0.05 of it"
    assert at_floor([0.0, 0.2, 0.0], 0.0, 0.05) == ""
    assert at_floor([0.3, 0.31], [0.29, 0.33], 0.05, "the control") == (
        "a tie at the control (0.29–0.33): every value within 0.05 of it")
    assert at_floor(float("nan"), 0.0, 0.05) == ""
    with pytest.raises(ValueError, match="2 values but 3 floors"):
        at_floor([0.1, 0.2], [0.0, 0.0, 0.0], 0.05)
    verdict = claim(ours=[0.0, 0.0, 0.0], criterion=at_most(0.0), inconclusive=at_floor([0.0] * 3, 0.0, 0.05))
    assert verdict.verdict == "inconclusive" and verdict.note.startswith("a tie at the floor")
