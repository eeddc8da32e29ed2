"""Reproduction records: which run produced each chapter's numbers, committed beside the book.

When a chapter executes successfully at ``laptop`` with the book's parameters (seed 0, no overrides, on the
CPU), the runner writes ``book/records/laptop/<chapter>.json``: every claim (per-seed values, mean, chance,
verdict), the results not attempted, the chapter's *input digest* and the inputs it covers (the notebook, the
source files of every ``ftscope`` module the kernel had imported, the lock file, the data manifests it read,
each with its SHA-256), the commit, the machine (CPU model and vector flags, threads, torch and the libraries
that do its arithmetic) and each cell's duration.

A record is *fresh* while its inputs hash as they did. CI does not re-run the book at ``laptop``: it checks
that every chapter has a fresh record whose verdicts the expectation accepts (``check``), and re-runs one
chapter from an empty cache to see the record reproduce (``ftscope spot-check``). A change to chapter 08's
package leaves chapter 02's record fresh; a change to ``train/loop.py`` stales every chapter that imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftscope.book import gate
from ftscope.book.claims import CLAIM_SCHEMA, NOT_ATTEMPTED_SCHEMA
from ftscope.book.runner import changed_inputs, hash_inputs, input_digest, notebook_names
from ftscope.paths import Project, write_atomic

PRESET = "laptop"  # the preset whose runs are recorded: the book's CPU reproduction
SCHEMA = 1


def path(project: Project, name: str) -> Path:
    return project.root / "book" / "records" / PRESET / f"{name}.json"


def refresh_command(name: str) -> str:
    return f"ftscope run {name} --preset {PRESET}"


def is_book_run(result: dict[str, Any]) -> bool:
    """Whether a result is the book's own run of its chapter: ``laptop``, seed 0, no overrides, on the CPU."""
    params = result["parameters"]
    return (result["preset"] == PRESET and params["seed"] == 0 and not params["overrides"]
            and result["device"] == "cpu")


def from_result(result: dict[str, Any]) -> dict[str, Any]:
    run = result["run"]
    return {
        "schema": SCHEMA,
        "chapter": result["notebook"],
        "preset": result["preset"],
        "seed": result["seed"],
        "device": result["device"],
        "commit": run["commit"],
        "finished": run["finished"],
        "duration_s": round(run["duration_s"], 1),
        "input_digest": run["input_digest"],
        "inputs": run["inputs"],
        "machine": run["machine"],
        "cells": run["cells"],
        "claims": result["claims"],
        "not_attempted": result.get("not_attempted", []),
    }


def write(project: Project, result: dict[str, Any]) -> Path:
    out = path(project, result["notebook"])
    write_atomic(out, json.dumps(from_result(result), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return out


RECORD_SCHEMA = {
    "type": "object",
    "required": ["schema", "chapter", "preset", "seed", "device", "commit", "finished", "duration_s",
                 "input_digest", "inputs", "machine", "cells", "claims", "not_attempted"],
    "properties": {
        "schema": {"const": SCHEMA},
        "chapter": {"type": "string"},
        "preset": {"const": PRESET},
        "seed": {"type": "integer", "minimum": 0},
        "device": {"type": "string"},
        "commit": {"type": "string"},
        "finished": {"type": "string"},
        "duration_s": {"type": "number", "minimum": 0},
        "input_digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "inputs": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
        "machine": {"type": "object", "required": ["cpu"]},
        "cells": {"type": "array"},
        "claims": {"type": "array", "items": CLAIM_SCHEMA},
        "not_attempted": {"type": "array", "items": NOT_ATTEMPTED_SCHEMA},
    },
    "additionalProperties": False,
}


def load(project: Project, name: str) -> dict[str, Any] | None:
    """The committed record of ``name`` (None when there is none); a malformed one is an error naming it."""
    import jsonschema

    p = path(project, name)
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
        jsonschema.validate(doc, RECORD_SCHEMA)
    except (ValueError, jsonschema.ValidationError) as err:
        raise ValueError(f"{p.relative_to(project.root)} is not a valid record ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:160]}); write it again with `{refresh_command(name)}`") from None
    return doc


def load_all(project: Project) -> dict[str, dict[str, Any]]:
    """Every chapter's record, by chapter (chapters without one are absent)."""
    return {name: doc for name in notebook_names(project) if (doc := load(project, name)) is not None}


def stale_inputs(project: Project, record: dict[str, Any]) -> list[str]:
    """The inputs of ``record`` that changed since it was made ([] when it is fresh)."""
    now = hash_inputs(project, list(record["inputs"]))
    if input_digest(now) == record["input_digest"]:
        return []
    return changed_inputs(record["inputs"], now) or ["(the input digest does not match its inputs)"]


def provenance(record: dict[str, Any]) -> str:
    """One line: which run a chapter's numbers come from."""
    cpu = record["machine"]["cpu"]
    threads = record["machine"].get("torch", {}).get("threads")
    return (f"commit {record['commit'][:8]}, {cpu['model']}" + (f", {threads} threads" if threads else "")
            + f", {record['finished'][:10]}")


@dataclass
class Check:
    failures: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)


def check(project: Project, names: list[str] | None = None) -> Check:
    """Every chapter (or ``names``) has a record, fresh for the checkout, whose verdicts the ``laptop``
    expectation accepts. A failure names the chapter, the inputs changed since its record and the command
    that refreshes it."""
    out = Check()
    expected = gate.load_expected(project, PRESET) or {}
    docs = {}
    for name in names or notebook_names(project):
        record = load(project, name)
        if record is None:
            out.failures.append(f"{name}: no record at {path(project, name).relative_to(project.root)}; "
                                f"make it with `{refresh_command(name)}`")
            continue
        changed = stale_inputs(project, record)
        if changed:
            shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
            unfetched = [k for k in changed if k.startswith("data/") and not (project.root / k).exists()]
            out.failures.append(f"{name}: its record (commit {record['commit'][:8]}) is stale: changed since: "
                                f"{shown}; " + ("the corpora are not fetched here: run `make data` and check "
                                                "again, else " if unfetched else "")
                                + f"refresh it with `{refresh_command(name)}` and commit "
                                f"{path(project, name).relative_to(project.root)}")
        else:
            out.fresh.append(name)
        docs[name] = record
    gated = {k: v for k, v in expected.items() if k in docs}
    failures, notices = gate.compare(docs, gated)
    out.failures += [f"{line} (in its record)" for line in failures]
    out.notices += notices
    return out
