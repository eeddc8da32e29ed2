"""The ``ftscope`` command: run, sweep, build, check-book, claims, records, spot-check, status, bench, plan, data."""

from __future__ import annotations

import argparse
import sys

from ftscope.book.bench import UTILISATION, check_utilisation
from ftscope.config import DEVICES, PRESETS, ConfigError, parse_assignments
from ftscope.paths import Project


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ftscope", description="Run and render the ftscope book.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute notebooks with papermill (cached by content hash)")
    r.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    r.add_argument("--preset", default="laptop", choices=PRESETS)
    r.add_argument("--device", default="auto", choices=DEVICES)
    r.add_argument("--seed", default=0, type=int)
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one field of the chapter's config (repeatable)")
    r.add_argument("--force", action="store_true", help="re-run even when the cache is fresh")
    r.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    r.add_argument("--cached-only", action="store_true",
                   help="train nothing: a checkpoint missing from the cache is an error (after `ftscope sweep`)")

    # listed for --help only: main() hands `ftscope sweep ...` to ftscope.sweep, whose options these are
    sub.add_parser("sweep", add_help=False, help="train chapters' cells as submitit jobs (Slurm or local) "
                   "into the cache the notebooks read; `ftscope sweep --help` for its options")

    b = sub.add_parser("build", help="render the book (jupyter-book, warnings as errors)")
    b.add_argument("--preset", default="laptop", choices=PRESETS)

    k = sub.add_parser("check-book", help="open every page of the built book in headless Chromium; fail on "
                       "JavaScript errors, broken images, unrendered plots, missing glue, tables wider than the page")
    k.add_argument("--width", type=int, default=1280, help="the window width in px")
    k.add_argument("--settle", type=float, default=1.5, help="seconds to let each page draw after it loads")

    c = sub.add_parser("claims", help="print the scorecard")
    c.add_argument("--preset", default="laptop", choices=PRESETS)
    c.add_argument("--strict", action="store_true",
                   help="exit non-zero when a claim failed or a verdict differs from book/expected/PRESET.yml")
    c.add_argument("--write-expected", action="store_true",
                   help="write book/expected/PRESET.yml from the present results (keeps fragile marks)")

    rc = sub.add_parser("records", help="check that every chapter's committed laptop record is fresh (its inputs "
                        "unchanged) and that the expectation accepts its verdicts")
    rc.add_argument("names", nargs="*", metavar="NAME", help="chapters to check (default: all)")

    sc = sub.add_parser("spot-check", help="re-run one chapter at laptop from an empty cache and compare it with "
                        "its record (the chapter is drawn from the commit hash unless named)")
    sc.add_argument("name", nargs="?", metavar="NAME", help="the chapter (default: drawn from HEAD's hash)")
    sc.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")

    s = sub.add_parser("status", help="each notebook's last duration, device, preset and cache state")
    s.add_argument("--preset", default=None, choices=PRESETS)

    e = sub.add_parser("bench", help="each training loop's speed against this machine's matmul peak")
    e.add_argument("--preset", default="laptop", choices=PRESETS, help="the sizes the loops run at")
    e.add_argument("--device", default="auto", choices=DEVICES)
    e.add_argument("--seconds", type=float, default=3.0, help="time each loop for at least this long")

    n = sub.add_parser("plan", help="every chapter's training FLOPs, memory and estimated time on one H100")
    n.add_argument("--preset", default="paper", choices=PRESETS, help="the sizes to count")
    n.add_argument("--utilisation", type=float, default=UTILISATION, help="assumed share of the H100's peak (0-1]")

    d = sub.add_parser("data", help="fetch or verify the corpora under data/ (Part III's four and pubmed)")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download, filter and normalise the corpora (skips verified ones)")
    f.add_argument("--lua-licences", default="permissive", choices=("permissive", "all"),
                   help="'all' adds GPL/LGPL Debian packages (nmap, ConTeXt, LuaTeX, awesome, ...)")
    f.add_argument("--force", action="store_true", help="rebuild even when the manifest verifies")
    f.add_argument("--only", nargs="+", metavar="CORPUS", help="only these corpora (python lua english stories pubmed)")
    f.add_argument("--n-stories", type=int, default=100_000, help="number of generated stories")
    dsub.add_parser("verify", help="check docs.jsonl and files.tsv against each manifest")
    return p


def _data(project: Project, args: argparse.Namespace) -> int:
    from ftscope.data import FETCHED, FetchError, fetch_all, verify

    if args.data_command == "verify":
        ok = verify(project, FETCHED)
        for name, good in ok.items():
            print(f"{name:8s} {'ok' if good else 'MISSING or CHANGED (run `make data`)'}")
        return 0 if all(ok.values()) else 1
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
            return book.build(project, args.preset)
        if args.command == "claims":
            return book.claims_report(project, args.preset, args.strict, write_expected=args.write_expected)
        return book.status_report(project, args.preset)
    except ConfigError as err:
        print(f"ftscope: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
