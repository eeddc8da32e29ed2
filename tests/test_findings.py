"""Findings records, their glue names and claim rows: what the prose and the claims read by field name."""

from dataclasses import dataclass

import pandas as pd
import pytest

from ftscope.book.claims import at_least, at_most
from ftscope.book.findings import Findings, Row, Seeds, glue, record, seeds


@dataclass(frozen=True)
class Demo(Findings):
    kept: Seeds
    floor: float
    n: int
    why: str
    table: pd.DataFrame
    maybe: float | None = None


def _demo(**kw) -> Demo:
    return Demo(**{"kept": seeds([0.5, 0.75, float("nan")]), "floor": 0.25, "n": 3, "why": "",
                   "table": pd.DataFrame(), **kw})


def test_seeds_hold_one_value_per_seed_and_format_each():
    s = seeds([0.5, 0.75, float("nan")])
    assert s.mean == 0.625 and s.lo == 0.5 and s.hi == 0.75  # over the seeds that have a value
    assert f"{s:.2f}" == "0.50, 0.75, nan" and len(s) == 3 and list(s)[:2] == [0.5, 0.75]
    with pytest.raises(ValueError, match="at least one"):
        seeds([])


def test_glue_names_come_from_the_fields_types():
    assert Demo.glue_names() == {"kept", "kept_min", "kept_max", "floor", "n", "why", "maybe"}  # no table
    glued = _demo().glued()
    assert set(glued) == Demo.glue_names() and glued["kept"] == 0.625 and glued["kept_max"] == 0.75

    class Ch:
        got: dict = {}

        def glue(self, name, value):
            self.got[name] = value

    ch = Ch()
    glue(ch, _demo())
    assert ch.got == glued


class _Chapter:
    def __init__(self):
        self.claims = []

    def claim(self, **fields):
        self.claims.append(fields)


ROW = Row(id="kept", paper="jain2024", reference="Sec. 5", statement="kept above its floor", ours="kept",
          criterion=lambda f: at_least(f.floor), basis="the paper's Sec. 5", inconclusive="why",
          note="{n} seeds: {kept:.2f} (mean {kept.mean:.2f}); floor {floor:g}")


def test_a_row_reads_its_fields_by_name():
    ch = _Chapter()
    record(ch, [ROW], _demo(kept=seeds([0.5, 0.75, 0.25])))
    [c] = ch.claims
    assert c["ours"] == [0.5, 0.75, 0.25] and c["criterion"].describe() == ">= 0.25"
    assert c["note"] == "3 seeds: 0.50, 0.75, 0.25 (mean 0.50); floor 0.25" and c["inconclusive"] == ""
    assert c["kind"] == "paper" and c["needs"] == [] and c["chance"] is None


def test_a_row_naming_a_missing_field_or_a_field_given_twice_fails_before_recording():
    ch = _Chapter()
    with pytest.raises(KeyError, match="no findings field 'kept_typo'"):
        record(ch, [ROW, Row(**{**ROW.__dict__, "id": "typo", "ours": "kept_typo"})], _demo())
    with pytest.raises(ValueError, match="given twice"):
        record(ch, [ROW], _demo(), {"floor": 0.1})
    assert ch.claims == []
    record(ch, [Row(**{**ROW.__dict__, "criterion": at_most(1.0), "note": ""})], _demo(), {"extra": 1})
    assert ch.claims[0]["criterion"].describe() == "<= 1"


def test_a_row_names_the_fields_it_reads():
    assert ROW.fields_read() == {"kept", "why", "n", "floor"}
