"""The one claims API: the paper's statement and number, ours, the criterion, the verdict.

A verdict is computed from the criterion, never typed: ``reproduced`` when our value meets
it, ``not reproduced`` when it does not (an honest result, reported with a note on why),
``inconclusive`` when the run cannot decide (a training run had not converged to its stated loss
level, or the measurement has no answer within its budget: it is not counted as a miss), and
``failed`` when there is no value to judge (NaN, None: something broke). ``ftscope claims
--strict`` fails on ``failed`` and on any verdict that differs from ``book/expected``
(``ftscope.book.gate``).

``ours`` is one value, or one value per seed: then the claim records every seed's value, their
mean (the value judged; for booleans, whether every seed holds), their spread (min, max) and how
many seeds meet the criterion on their own. Seeds that disagree (some meet it, some do not) make the
claim **fragile**, whatever the mean says. ``chance`` is the accuracy of the best constant answer on
the same test set, recorded beside an accuracy (and used by criteria built with ``above``).

A chapter's claims travel out of its executed notebook as a glue record named
``ftscope_record`` (a JSON text under ``application/papermill.record/text/plain``), so the
runner, plain papermill and the book all read the same thing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ftscope.config import PRESETS

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "failed")
PAPERS = ("jain2024", "zhang2024", "horn2024")
#: what a claim is: a result the paper states (counted under its paper); a precondition that other claims
#: need (the base can do X: it gates them, is shown apart and is not counted as a reproduced result); a
#: hypothesis of our own beyond the papers (counted on its own row; ``paper`` names the paper it extends)
KINDS = ("paper", "precondition", "hypothesis")
RECORD_NAME = "ftscope_record"
GLUE_PREFIX = "application/papermill.record/"
ID_PATTERN = r"^[a-z][a-z0-9_]*$"

Value = float | int | bool | str | None
SeedValues = list[float] | list[int] | list[bool] | tuple


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Criterion:
    """A named test on our value. Build one with the functions below."""

    op: Literal["at_least", "at_most", "below", "above", "between", "within", "is_true", "is_false"]
    args: tuple[float, ...] = ()
    label: str = ""  # how to describe it, where the bare number would hide where it comes from

    def check(self, value: Value) -> bool:
        if self.op == "is_true":
            return value is True
        if self.op == "is_false":
            return value is False
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"criterion {self.describe()!r} needs a number, got {value!r}")
        if self.op == "at_least":
            return value >= self.args[0]
        if self.op == "at_most":
            return value <= self.args[0]
        if self.op == "below":
            return value < self.args[0]
        if self.op == "above":
            return value > self.args[0]
        if self.op == "between":
            return self.args[0] <= value <= self.args[1]
        target, tol = self.args
        return abs(value - target) <= tol

    def bounds(self) -> list[float]:
        """The numbers where the verdict changes (none for a boolean test): the gate asks how close a
        claim's seeds lie to them."""
        if self.op in ("is_true", "is_false"):
            return []
        if self.op == "within":
            target, tol = self.args
            return [target - tol, target + tol]
        return [float(a) for a in self.args]

    def describe(self) -> str:
        if self.label:
            return self.label
        a = self.args
        return {
            "at_least": lambda: f">= {a[0]:g}",
            "at_most": lambda: f"<= {a[0]:g}",
            "below": lambda: f"< {a[0]:g}",
            "above": lambda: f"> {a[0]:g}",
            "between": lambda: f"in [{a[0]:g}, {a[1]:g}]",
            "within": lambda: f"{a[0]:g} ± {a[1]:g}",
            "is_true": lambda: "holds",
            "is_false": lambda: "does not hold",
        }[self.op]()


def at_least(x: float) -> Criterion:
    return Criterion("at_least", (float(x),))


def at_most(x: float) -> Criterion:
    return Criterion("at_most", (float(x),))


def between(lo: float, hi: float) -> Criterion:
    if lo > hi:
        raise ValueError(f"between({lo}, {hi}): lo > hi")
    return Criterion("between", (float(lo), float(hi)))


def within(target: float, tol: float) -> Criterion:
    return Criterion("within", (float(target), float(tol)))


def _from_chance(op: Literal["at_least", "at_most"], chance: float, offset: float) -> Criterion:
    """``op`` against chance + ``offset``, described as such (the bare number hides where it comes from)."""
    bound = float(chance) + float(offset)
    sign = "+" if offset >= 0 else "-"
    return Criterion(op, (bound,), label=f"{'>=' if op == 'at_least' else '<='} chance {sign} {abs(offset):g} "
                                         f"(= {bound:.3g})")


def above(chance: float, margin: float) -> Criterion:
    """At least ``margin`` above the chance level (the best constant answer's accuracy)."""
    return _from_chance("at_least", chance, margin)


def below(chance: float, margin: float) -> Criterion:
    """At least ``margin`` below the chance level: worse than always giving the commonest answer."""
    return _from_chance("at_most", chance, -margin)


def no_better_than_chance(chance: float, margin: float) -> Criterion:
    """At most ``margin`` above the chance level: no better than always giving the commonest answer."""
    return _from_chance("at_most", chance, margin)


def _control(control: Sequence[float]) -> tuple[float, float]:
    values = [float(v) for v in control]
    if not values or any(_is_missing(v) for v in values):
        raise ValueError(f"a control needs at least one value and no missing one, got {values!r}")
    return min(values), max(values)


def below_control(control: Sequence[float], what: str = "the seed control") -> Criterion:
    """Strictly below every value of ``control``: the same statistic measured where nothing changed (two
    SAEs of one model), so a value inside its range is what the instrument gives on its own."""
    lo, hi = _control(control)
    return Criterion("below", (lo,), label=f"< {what} ({lo:.3g}–{hi:.3g})")


def above_control(control: Sequence[float], what: str = "the seed control") -> Criterion:
    """Strictly above every value of ``control`` (see ``below_control``)."""
    lo, hi = _control(control)
    return Criterion("above", (hi,), label=f"> {what} ({lo:.3g}–{hi:.3g})")


def not_below_control(control: Sequence[float], what: str = "the seed control") -> Criterion:
    """At least the lowest value of ``control``: as much as the instrument gives where nothing changed (the
    statistic is no worse than between two SAEs of one model), inside its range or above it."""
    lo, hi = _control(control)
    return Criterion("at_least", (lo,), label=f">= the lowest of {what} ({lo:.3g}–{hi:.3g})")


def is_true() -> Criterion:
    return Criterion("is_true")


def is_false() -> Criterion:
    return Criterion("is_false")


@dataclass(frozen=True)
class Claim:
    id: str
    chapter: str
    paper: str
    reference: str  # where in the paper: "Table 3", "Fig. 7", "App. G.1"
    statement: str  # the paper's statement, in our words
    paper_value: Value  # the paper's number (None where the paper gives none)
    ours: Value
    criterion: str
    verdict: str
    note: str = ""  # deviations from the paper; why it did not reproduce
    seeds: list | None = None  # one value per seed, when the claim was measured on several
    spread: list | None = None  # [min, max] over the seeds (numbers only)
    seeds_meeting: int | None = None  # how many seeds meet the criterion on their own
    fragile: bool = False  # the seeds disagree: some meet the criterion, some do not
    chance: float | None = None  # the best constant answer's accuracy on the same test set
    converged: list | None = None  # per run: whether it reached its stated loss level
    basis: str = ""  # why this criterion: the paper's text it was fixed from, before the run
    bounds: list | None = None  # the criterion's numbers where the verdict changes (``Criterion.bounds``)
    kind: str = "paper"  # one of ``KINDS``
    needs: list | None = None  # the ids of the preconditions this claim is judged under

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["ours"], float) and not math.isfinite(d["ours"]):
            d["ours"] = None  # JSON has no NaN
        if d["seeds"] is not None:
            d["seeds"] = [None if isinstance(v, float) and not math.isfinite(v) else v for v in d["seeds"]]
        else:
            for k in ("seeds", "spread", "seeds_meeting"):
                d.pop(k)
        for k in ("chance", "converged"):
            if d[k] is None:
                d.pop(k)
        if not d["fragile"]:
            d.pop("fragile")
        if not d["basis"]:
            d.pop("basis")
        if not d["bounds"]:
            d.pop("bounds")
        if not d["needs"]:
            d.pop("needs")
        return d


def judge(ours: Value, criterion: Criterion) -> str:
    if _is_missing(ours):
        return "failed"
    return "reproduced" if criterion.check(ours) else "not reproduced"


def _plain(value: Any) -> Value:
    return value.item() if hasattr(value, "item") else value  # numpy / torch scalars


def combine_seeds(values: SeedValues, criterion: Criterion) -> dict[str, Any]:
    """The per-seed fields of a claim: the judged value (mean; for booleans, all hold), the spread and
    how many seeds meet ``criterion``."""
    values = [_plain(v) for v in values]
    if not values:
        raise ValueError("a claim measured on seeds needs at least one seed's value")
    if any(_is_missing(v) for v in values):
        return {"ours": float("nan"), "seeds": values, "spread": None, "seeds_meeting": None}
    booleans = all(isinstance(v, bool) for v in values)
    if not booleans and any(isinstance(v, (bool, str)) for v in values):
        raise TypeError(f"per-seed values must be all numbers or all booleans, got {values!r}")
    meeting = sum(bool(criterion.check(v)) for v in values)
    if booleans:
        return {"ours": all(values), "seeds": values, "spread": None, "seeds_meeting": meeting}
    return {"ours": math.fsum(values) / len(values), "seeds": values, "spread": [min(values), max(values)],
            "seeds_meeting": meeting}


def make_claim(
    *,
    id: str,
    chapter: str,
    paper: str,
    reference: str,
    statement: str,
    paper_value: Value,
    ours: Value | SeedValues,
    criterion: Criterion,
    note: str = "",
    chance: float | None = None,
    converged: bool | list[bool] | None = None,
    inconclusive: str = "",
    basis: str = "",
    kind: str = "paper",
    needs: Sequence[str] = (),
) -> Claim:
    """One claim. ``converged``: whether the run(s) behind ``ours`` reached their stated loss level (one
    per run); if any did not, the verdict is ``inconclusive``. ``inconclusive``: another reason the
    measurement cannot decide (e.g. neither run reached the level within the budget), also giving
    ``inconclusive``; both reasons are added to the note. ``kind``: one of ``KINDS``; ``needs``: the ids of
    the preconditions it is judged under (``Chapter.claim`` makes it inconclusive unless they hold)."""
    if kind not in KINDS:
        raise ValueError(f"unknown claim kind {kind!r}; valid choices: {', '.join(KINDS)}")
    if not re.match(ID_PATTERN, id):
        raise ValueError(f"claim id {id!r} must match {ID_PATTERN} (it is also a glue key)")
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; valid choices: {', '.join(PAPERS)}")
    seeds = combine_seeds(ours, criterion) if isinstance(ours, (list, tuple)) else {"ours": _plain(ours)}
    verdict = judge(seeds["ours"], criterion)
    runs = None if converged is None else [bool(c) for c in (converged if isinstance(converged, (list, tuple))
                                                              else [converged])]
    reasons = ([f"not converged: {sum(runs)}/{len(runs)} runs reached the stated loss level"]
               if runs is not None and not all(runs) else []) + ([inconclusive] if inconclusive else [])
    if reasons and verdict != "failed":
        verdict = "inconclusive"
        note = "; ".join([*reasons, note] if note else reasons)
    meeting, n = seeds.get("seeds_meeting"), len(seeds.get("seeds") or [])
    fragile = meeting is not None and 0 < meeting < n and verdict != "inconclusive"
    return Claim(id=id, chapter=chapter, paper=paper, reference=reference, statement=statement,
                 paper_value=paper_value, criterion=criterion.describe(), verdict=verdict, note=note,
                 fragile=fragile, chance=None if chance is None else float(_plain(chance)), converged=runs,
                 basis=basis, bounds=criterion.bounds(), kind=kind, needs=list(needs) or None, **seeds)


def _is_seq(x: Any) -> bool:
    """Whether ``x`` holds one value per seed (a list, tuple, array or series), not one value."""
    return isinstance(x, (list, tuple)) or (hasattr(x, "__iter__") and getattr(x, "ndim", 0) >= 1)


def _per_seed(x: Any) -> list:
    return list(x) if _is_seq(x) else [x]


def at_floor(values: Value | SeedValues, floor: float | Sequence[float], margin: float,
             what: str = "the floor") -> str:
    """Why a comparison ties at a floor ('' when it does not): every value (one per seed) lies within ``margin``
    of ``floor`` (a number, or one per seed), so the measurement cannot tell the two apart and the claim is
    inconclusive (a tie at 0% is no ordering). Pass the text as ``make_claim``'s ``inconclusive``."""
    vals = [float(_plain(v)) for v in _per_seed(values)]
    floors = [float(_plain(f)) for f in _per_seed(floor)]
    floors = floors * len(vals) if len(floors) == 1 and not _is_seq(floor) else floors
    if len(floors) != len(vals):
        raise ValueError(f"at_floor: {len(vals)} values but {len(floors)} floors")
    if any(math.isnan(v) for v in vals + floors):
        return ""
    if all(abs(v - f) <= margin for v, f in zip(vals, floors)):
        lo, hi = min(floors), max(floors)
        at = f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}"
        return f"a tie at {what} ({at}): every value within {margin:.3g} of it"
    return ""


def not_above_floor(values: Value | SeedValues, floor: float | Sequence[float], margin: float,
                    what: str = "the floor") -> str:
    """Why a "kept" value cannot be told from its floor, the same measurement on models that never had the
    capability ('' when it can): a tie at the floor (``at_floor``), or a mean over the seeds no more than
    ``margin`` above the floor's (one floor, or one per seed). Pass the text as ``make_claim``'s
    ``inconclusive``."""
    tie = at_floor(values, floor, margin, what)
    if tie:
        return tie
    vals, floors = [float(_plain(v)) for v in _per_seed(values)], [float(_plain(f)) for f in _per_seed(floor)]
    mean, level = sum(vals) / len(vals), sum(floors) / len(floors)
    return "" if mean > level + margin else (f"not above {what} ({level:.3g}) by more than {margin:.3g}: "
                                              f"mean {mean:.3g}")


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def fmt_ours(claim: dict[str, Any]) -> str:
    """Our value; for a claim on several seeds, the mean, the range and how many seeds meet the criterion."""
    seeds = claim.get("seeds")
    if not seeds:
        return fmt(claim["ours"])
    spread = claim.get("spread")
    text = fmt(claim["ours"]) + (f" [{fmt(spread[0])}–{fmt(spread[1])}]" if spread else "")
    meeting = claim.get("seeds_meeting")
    return text + (f", {meeting}/{len(seeds)} seeds meet it" if meeting is not None else f", {len(seeds)} seeds")


def verdict_text(claim: dict[str, Any]) -> str:
    """The verdict, with ", fragile (k/n seeds)" when the seeds disagree."""
    if claim.get("fragile"):
        return f"{claim['verdict']}, fragile ({claim['seeds_meeting']}/{len(claim['seeds'])} seeds meet it)"
    return claim["verdict"]


# ---------------------------------------------------------------- the JSON that results/ holds
_VALUE = {"type": ["number", "boolean", "string", "null"]}
CLAIM_SCHEMA = {
    "type": "object",
    "required": ["id", "chapter", "paper", "reference", "statement", "paper_value", "ours", "criterion", "verdict"],
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "chapter": {"type": "string", "minLength": 1},
        "paper": {"enum": list(PAPERS)},
        "reference": {"type": "string", "minLength": 1},
        "statement": {"type": "string", "minLength": 1},
        "paper_value": _VALUE,
        "ours": _VALUE,
        "criterion": {"type": "string", "minLength": 1},
        "verdict": {"enum": list(VERDICTS)},
        "note": {"type": "string"},
        "seeds": {"type": "array", "items": _VALUE, "minItems": 1},
        "spread": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "seeds_meeting": {"type": ["integer", "null"], "minimum": 0},
        "fragile": {"type": "boolean"},
        "chance": {"type": "number"},
        "converged": {"type": "array", "items": {"type": "boolean"}, "minItems": 1},
        "basis": {"type": "string"},
        "bounds": {"type": "array", "items": {"type": "number"}},
        "kind": {"enum": list(KINDS)},
        "needs": {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}, "minItems": 1},
    },
    "additionalProperties": False,
}
#: a result of the paper that no chapter attempts, and why (the scorecard lists it)
NOT_ATTEMPTED_SCHEMA = {
    "type": "object",
    "required": ["paper", "reference", "statement", "why"],
    "properties": {"paper": {"enum": list(PAPERS)}, "reference": {"type": "string", "minLength": 1},
                   "statement": {"type": "string", "minLength": 1}, "why": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}
RESULT_SCHEMA = {
    "type": "object",
    "required": ["schema", "notebook", "preset", "device", "seed", "parameters", "status", "claims", "run"],
    "properties": {
        "schema": {"const": 1},
        "notebook": {"type": "string"},
        "preset": {"enum": list(PRESETS)},
        "device": {"type": "string"},  # what the notebook actually ran on ("cpu", "cuda")
        "seed": {"type": "integer", "minimum": 0},
        "parameters": {"type": "object"},
        "status": {"const": "ok"},
        "claims": {"type": "array", "items": CLAIM_SCHEMA},
        "not_attempted": {"type": "array", "items": NOT_ATTEMPTED_SCHEMA},
        "run": {
            "type": "object",
            "required": ["commit", "versions", "duration_s", "finished", "cache_key"],
            "properties": {
                "commit": {"type": "string"},
                "versions": {"type": "object", "additionalProperties": {"type": "string"}},
                "duration_s": {"type": "number", "minimum": 0},
                "finished": {"type": "string"},
                "cache_key": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
    },
}


def validate_result(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` is a well-formed results file."""
    import jsonschema

    jsonschema.validate(doc, RESULT_SCHEMA)
    ids = [c["id"] for c in doc["claims"]]
    if len(ids) != len(set(ids)):
        raise jsonschema.ValidationError(f"duplicate claim ids in {doc['notebook']}: {ids}")


def read_record(nb) -> dict[str, Any] | None:
    """The ``ftscope_record`` glued by ``Chapter.finish`` in an executed notebook, or None."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("scrapbook", {}).get("name") == RECORD_NAME:
                return json.loads(out["data"][GLUE_PREFIX + "text/plain"])
    return None
