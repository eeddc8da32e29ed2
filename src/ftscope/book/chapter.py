"""What a notebook's first and last code cells call.

    ch = Chapter("02_tracr_finetuning", CounterConfig, preset=preset, device=device,
                 seed=seed, overrides=overrides)   # validates, seeds, picks the device
    ...
    ch.claim(id="wrapper_cte0", paper="jain2024", reference="Table 3", ...)
    ch.finish()                                      # glues the record, shows the claims table
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ftscope.book.claims import GLUE_PREFIX, PAPERS, RECORD_NAME, Claim, fmt_ours, make_claim, verdict_text
from ftscope.config import ChapterConfig, check_device, check_preset, resolve_device


class Glued(dict):
    """The numbers a chapter glued: a dict that a notebook cell does not display. (The formatter removes
    the trailing semicolon that once hid a cell's last value; a figure cell must have one output.)"""

    def _ipython_display_(self) -> None:
        pass


class Chapter:
    def __init__(
        self,
        name: str,
        config_cls: type[ChapterConfig],
        *,
        preset: str,
        device: str,
        seed: int,
        overrides: dict[str, Any] | None = None,
    ):
        check_preset(preset)
        check_device(device)
        self.name = name
        self.preset = preset
        self.seed = seed
        self.cfg = config_cls.from_preset(preset, **(overrides or {}))
        self.device = resolve_device(device)
        from ftscope.train.seeding import seed_everything  # numpy and torch: the kernel's, not the command's

        self.rng = seed_everything(seed)
        self.claims: list[Claim] = []
        self.not_attempted: list[dict[str, str]] = []

    def glue(self, name: str, value: Any, display: bool = False) -> Any:
        """Glue a number for the prose (``{glue:text}`name:.2f```)."""
        from myst_nb import glue

        if hasattr(value, "item"):  # numpy / torch scalars: glue the plain number, which {glue:text} can format
            value = value.item()
        glue(name, value, display=display)
        return value

    def glue_all(self, values: Mapping[str, Any]) -> Glued:
        """Glue every named number of ``values`` (``{glue:text}`name``` in the prose); returns them (a
        ``Glued`` dict), so an analysis's dict of named numbers (its *facts*) can be glued and handed to its
        claims, and a cell that ends with this call shows no output."""
        for name, value in values.items():
            self.glue(name, value)
        return Glued(values)

    def glue_config(self, cfg: ChapterConfig, names: Iterable[str], prefix: str = "") -> None:
        """Glue config fields (or properties) under their own names, with an optional ``prefix``
        (``paper_`` for the paper preset's values)."""
        self.glue_all({prefix + name: getattr(cfg, name) for name in names})

    def claim(self, **fields: Any) -> Claim:
        """Record one claim (the keyword fields of ``claims.make_claim`` but ``chapter``: ``id``,
        ``paper``, ``reference``, ``statement``, ``paper_value``, ``ours``, ``criterion``, ``note``) and
        glue our value under its id (and the paper's under ``{id}_paper``). ``needs``: ids of preconditions
        recorded before it; unless each is reproduced, this claim is inconclusive, naming them."""
        if any(c.id == fields.get("id") for c in self.claims):
            raise ValueError(f"claim id {fields.get('id')!r} recorded twice in {self.name}")
        recorded = {c.id: c for c in self.claims}
        unmet = []
        for need in fields.get("needs") or ():
            if need not in recorded:
                raise ValueError(f"claim {fields.get('id')!r} needs {need!r}, which is not recorded before it")
            if recorded[need].kind != "precondition":
                raise ValueError(f"claim {fields.get('id')!r} needs {need!r}, which is not a precondition")
            if recorded[need].verdict != "reproduced":
                unmet.append(f"precondition {need} is {recorded[need].verdict}")
        if unmet:
            fields["inconclusive"] = "; ".join([*unmet, fields["inconclusive"]] if fields.get("inconclusive")
                                               else unmet)
        claim = make_claim(chapter=self.name, **fields)
        self.claims.append(claim)
        self.glue(claim.id, claim.ours)
        if claim.paper_value is not None:
            self.glue(f"{claim.id}_paper", claim.paper_value)
        return claim

    def skip(self, *, paper: str, reference: str, statement: str, why: str) -> None:
        """Record a result of the paper this chapter does not attempt, and why (the scorecard lists it)."""
        if paper not in PAPERS:
            raise ValueError(f"unknown paper {paper!r}; valid choices: {', '.join(PAPERS)}")
        if not why.strip():
            raise ValueError(f"say why {reference} is not attempted")
        self.not_attempted.append({"paper": paper, "reference": reference, "statement": statement, "why": why})

    def record(self) -> dict[str, Any]:
        return {
            "chapter": self.name,
            "preset": self.preset,
            "device": self.device.type,
            "seed": self.seed,
            "config": self.cfg.to_dict(),
            "claims": [c.to_dict() for c in self.claims],
            "not_attempted": self.not_attempted,
        }

    def claims_frame(self):
        import pandas as pd

        cols = ["id", "kind", "reference", "statement", "paper_value", "ours", "chance", "criterion", "verdict", "note"]
        rows = [{**c.to_dict(), "ours": fmt_ours(c.to_dict()) if c.seeds else c.ours,
                 "verdict": verdict_text(c.to_dict())} for c in self.claims]
        return pd.DataFrame(rows, columns=cols)

    def finish(self):
        """Glue the chapter's record for the runner and return the claims table to display."""
        from IPython.display import display

        payload = json.dumps(self.record(), sort_keys=True)
        display(
            {GLUE_PREFIX + "text/plain": payload},
            raw=True,
            metadata={"scrapbook": {"name": RECORD_NAME, "mime_prefix": GLUE_PREFIX}},
        )
        return self.claims_frame()
