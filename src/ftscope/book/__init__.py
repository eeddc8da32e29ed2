"""The book machinery: ``Chapter`` (what a notebook's first and last cells call), the claims API,
the papermill ``runner``, the scorecard and status tables (``report``) and the ``ftscope`` command
(``cli``). None of it imports torch at module level: ``ftscope run`` starts fast and a notebook's
kernel is the only process that loads the models."""

from ftscope._exports import lazy_exports

_EXPORTS = {
    "Chapter": "chapter",
    **dict.fromkeys(["Claim", "Criterion", "at_least", "at_most", "between", "within", "is_true", "is_false",
                     "below_control", "above_control", "not_below_control", "make_claim", "judge", "validate_result", "read_record",
                     "VERDICTS", "PAPERS", "KINDS", "at_floor", "not_above_floor"], "claims"),
    **dict.fromkeys(["run", "Outcome", "cache_key", "notebook_names"], "runner"),
    **dict.fromkeys(["build", "claims_report", "status_report", "write_generated", "scorecard_markdown",
                     "status_markdown"], "report"),
    "main": "cli",
    **dict.fromkeys(["chapter", "claims", "runner", "report", "cli"], ""),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
