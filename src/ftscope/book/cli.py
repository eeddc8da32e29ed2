"""The ``ftscope`` command: run, sweep, build, check-book, claims, records, spot-check, status, clean-cache, bench,
plan, data."""

from __future__ import annotations

import argparse
import os
import sys

from ftscope.book.bench import UTILISATION, check_utilisation
from ftscope.config import DEVICES, PRESETS, ConfigError, parse_assignments
from ftscope.paths import Project

DEVICE_HELP = "auto: CUDA when torch sees one, else the CPU"


class _Sub:
    """``add_parser`` whose ``--help`` repeats the one-line description the command list shows."""

    def __init__(self, sub):
        self.sub = sub

    def __call__(self, name: str, help: str, **kw) -> argparse.ArgumentParser:  # noqa: A002 - argparse's name
        return self.sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", **kw)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ftscope", description="Run and render the ftscope book.")
    sub = p.add_subparsers(dest="command", required=True)
    add = _Sub(sub)

    r = add("run", "execute notebooks with papermill (cached by content hash)")
    r.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    r.add_argument("--preset", default="laptop", choices=PRESETS, help="the sizes to run at (default: laptop)")
    r.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)
    r.add_argument("--seed", default=0, type=int, help="the chapter's seed, 0 <= SEED < 2**32 (default: 0)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one field of the chapter's config (repeatable; a Python literal or a bare word); "
                   "checked against every named chapter before anything runs")
    r.add_argument("--force", action="store_true", help="re-run even when the cache is fresh")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    r.add_argument("--cached-only", action="store_true",
                   help="train nothing: a checkpoint missing from the cache is an error (after `ftscope sweep`)")

    # listed for --help only: main() hands `ftscope sweep ...` to ftscope.sweep, whose options these are
    sub.add_parser("sweep", add_help=False, help="train chapters' cells as submitit jobs (Slurm or local) "
                   "into the cache the notebooks read; `ftscope sweep --help` for its options")

    b = add("build", "render the book (jupyter-book, warnings as errors)")
    b.add_argument("--preset", default="laptop", choices=PRESETS, help="whose executed notebooks to render")
    b.add_argument("--allow-overrides", action="store_true",
                   help="render chapters run with --set too (their pages say so); refused otherwise")

    k = add("check-book", "open every page of the built book in headless Chromium; fail on JavaScript errors, "
            "broken images, unrendered plots, missing glue, tables wider than the page")
    k.add_argument("--width", type=int, default=1280, help="the window width in px")
    k.add_argument("--settle", type=float, default=1.5, help="seconds to let each page draw after it loads")

    c = add("claims", "print the scorecard")
    c.add_argument("--preset", default="laptop", choices=PRESETS, help="whose results to score")
    c.add_argument("--strict", action="store_true",
                   help="exit non-zero when a claim failed or a verdict differs from book/expected/PRESET.yml")
    c.add_argument("--write-expected", action="store_true",
                   help="write book/expected/PRESET.yml from the present results (keeps fragile marks)")
    c.add_argument("--allow-overrides", action="store_true",
                   help="let --strict pass results run with --set (they are shown as such); refused otherwise")

    rc = add("records", "check that every chapter's committed laptop record is fresh (its inputs unchanged) and "
             "that the expectation accepts its verdicts")
    rc.add_argument("names", nargs="*", metavar="NAME", help="chapters to check (default: all)")

    sc = add("spot-check", "re-run one chapter at laptop from an empty cache and compare it with its record (the "
             "chapter is drawn from the commit hash unless named)")
    sc.add_argument("name", nargs="?", metavar="NAME", help="the chapter (default: drawn from HEAD's hash)")
    sc.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")

    s = add("status", "each notebook's last duration, device, preset and cache state; the committed records; "
            "what interrupted runs left")
    s.add_argument("--preset", default=None, choices=PRESETS, help="only this preset (default: every one run)")

    add("clean-cache", "remove what killed or damaged runs left: checkpoints and results moved aside as damaged "
        "(*.corrupt-*), half-written temporary files and folders; nothing a live run uses")

    e = add("bench", "each training loop's speed against this machine's matmul peak")
    e.add_argument("--preset", default="laptop", choices=PRESETS,
                   help="the sizes the loops run at; written to results/bench-PRESET.json")
    e.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)
    e.add_argument("--seconds", type=float, default=3.0, help="time each loop for at least this long")

    n = add("plan", "every chapter's training FLOPs, memory and estimated time on one H100")
    n.add_argument("--preset", default="paper", choices=PRESETS, help="the sizes to count")
    n.add_argument("--utilisation", type=float, default=UTILISATION, help="assumed share of the H100's peak (0-1]")

    d = add("data", "fetch or verify the corpora under data/ (Part III's four and pubmed)")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dadd = _Sub(dsub)
    f = dadd("fetch", "download, filter and normalise the corpora (skips verified ones)")
    f.add_argument("--lua-licences", default="permissive", choices=("permissive", "all"),
                   help="'all' adds GPL/LGPL Debian packages (nmap, ConTeXt, LuaTeX, awesome, ...)")
    f.add_argument("--force", action="store_true", help="rebuild even when the manifest verifies")
    f.add_argument("--only", nargs="+", metavar="CORPUS", help="only these corpora (python lua english stories pubmed)")
    f.add_argument("--n-stories", type=int, default=100_000, help="number of generated stories (at least 1)")
    dadd("verify", "check docs.jsonl and files.tsv against each manifest: ok, MISSING or CHANGED")
    return p


def _data(project: Project, args: argparse.Namespace) -> int:
    from ftscope.data import FETCHED, FetchError, corpus_state, fetch_all

    if args.data_command == "verify":
        states = {name: corpus_state(project, name) for name in FETCHED}
        for name, st in states.items():
            print(f"{name:8s} " + {"ok": "ok", "missing": "MISSING (run `make data`)",
                                   "changed": "CHANGED since its manifest was written (rebuild it: "
                                              f"`ftscope data fetch --only {name} --force`)"}[st])
        return 0 if all(st == "ok" for st in states.values()) else 1
    try:
        fetch_all(project, lua_licences=args.lua_licences, n_stories=args.n_stories, force=args.force,
                  only=args.only)
    except (FetchError, ValueError) as err:
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 1
    return 0


def _check_book(project: Project, args: argparse.Namespace) -> int:
    from ftscope.book.browser import check_book

    if args.width < 320:
        raise ConfigError(f"--width {args.width}: give a window width of at least 320 px")
    html, shots = project.root / "_build" / "html", project.root / "_build" / "screenshots"
    try:
        reports = check_book(html, shots, width=args.width, settle_s=args.settle)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 2
    bad = [r for r in reports if r.problems]
    print(f"[check-book] {len(reports)} pages at {args.width} px, {len(bad)} with problems; "
          f"screenshots in {shots.relative_to(project.root)}/")
    return 1 if bad else 0


def _records(project: Project, args: argparse.Namespace) -> int:
    from ftscope.book import records
    from ftscope.book.runner import check_names

    names = check_names(project, args.names)
    try:
        result = records.check(project, names)
    except ValueError as err:  # a malformed record
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 1
    for line in result.notices:
        print(f"[records] notice: the verdict of an unsettled claim differs from the expectation: {line}")
    for line in result.failures:
        print(f"[records] FAIL {line}")
    print(f"[records] {len(result.fresh)}/{len(names)} chapters have a fresh {records.PRESET} record"
          + ("" if result.failures else "; every recorded verdict as expected")
          + (f" ({len(result.notices)} unsettled claim(s) differ, listed above)" if result.notices else ""))
    return 1 if result.failures else 0


def _sweep(project: Project, rest: list[str]) -> int:
    """``ftscope sweep``: declares cells with torch, so ``python -m ftscope.sweep`` in a process of its own."""
    import subprocess

    return subprocess.call([sys.executable, "-m", "ftscope.sweep", *rest], cwd=project.root)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["sweep"]:  # its options are ftscope.sweep's own (argparse's REMAINDER cannot pass them on)
        return _sweep(Project.here(), argv[1:])
    args = _parser().parse_args(argv)
    project = Project.here()
    try:
        if args.command == "run":
            from ftscope.book.runner import run

            outcomes = run(project, args.names, preset=args.preset, device=args.device, seed=args.seed,
                           overrides=parse_assignments(args.overrides), force=args.force, timeout=args.timeout,
                           cached_only=args.cached_only)
            return 1 if any(o.status == "failed" for o in outcomes) else 0
        if args.command == "data":
            return _data(project, args)
        if args.command == "bench":  # in a process of its own: it trains with torch, the command does not
            import subprocess

            return subprocess.call([sys.executable, "-m", "ftscope.bench", "--preset", args.preset, "--device",
                                    args.device, "--seconds", str(args.seconds)], cwd=project.root)
        if args.command == "plan":  # builds the models to count them: torch, so a process of its own
            import subprocess

            try:
                check_utilisation(args.utilisation)
            except ValueError as err:
                print(f"ftscope: error: --{err}", file=sys.stderr)
                return 2
            return subprocess.call([sys.executable, "-m", "ftscope.bench", "--plan", "--preset", args.preset,
                                    "--utilisation", str(args.utilisation)], cwd=project.root)
        if args.command == "check-book":
            return _check_book(project, args)
        if args.command == "records":
            return _records(project, args)
        if args.command == "spot-check":
            from ftscope.book.spotcheck import spot_check

            return spot_check(project, args.name, timeout=args.timeout)
        from ftscope.book import report as book

        if args.command == "build":
            return book.build(project, args.preset, allow_overrides=args.allow_overrides)
        if args.command == "claims":
            return book.claims_report(project, args.preset, args.strict, write_expected=args.write_expected,
                                      allow_overrides=args.allow_overrides)
        if args.command == "clean-cache":
            from ftscope.book.runner import clean_cache

            return clean_cache(project)
        return book.status_report(project, args.preset)
    except ConfigError as err:
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the runner has said what an interruption leaves
        return 130
    except BrokenPipeError:  # `ftscope status | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
