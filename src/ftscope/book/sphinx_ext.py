"""A Sphinx extension the book loads (``_config.yml``: ``sphinx.extra_extensions``): mends to the page assets.

Jupyter Book v1 sets sphinx-thebe up twice, so every page declared ``const THEBE_JS_URL`` twice and logged a
JavaScript ``SyntaxError`` in the reader's browser (``make check-book`` found it). The second copy of an
identical script is dropped here.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    # the same inline script comes once with filename None and once with "" (sphinx-thebe adds it twice)
    return str(getattr(script, "filename", script) or ""), attributes.get("body"), attributes.get("src")


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=100)  # before any handler that returns a template (the event stops there)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
