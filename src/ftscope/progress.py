"""Progress bars for long loops.

In a terminal, and in a notebook opened by hand, the bar redraws in place (``tqdm.auto``). Where
nobody watches it redraw (a notebook executed by ``ftscope run`` or papermill, CI logs, output piped
to a file), a bar would print one line per update, hundreds per loop; there ``progress`` prints at
most six plain lines per loop instead (start, every quarter, end), to the notebook's stderr, which
the rendered book drops (``nb_output_stderr: remove`` in ``_config.yml``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
QUARTERS = 4


def interactive() -> bool:
    """A person watches this output redraw: an interactive terminal, or a notebook kernel not run by
    ``ftscope run`` (which sets ``FTSCOPE_RUNNER=1``) or papermill."""
    if os.environ.get("FTSCOPE_RUNNER") == "1" or "papermill" in sys.modules:
        return False
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def sparse(iterable: Iterable[T], desc: str = "", total: int | None = None, stream=None) -> Iterator[T]:
    """Yield from ``iterable``, printing ``desc: i/total`` lines at the start, each quarter and the end."""
    stream = stream or sys.stderr
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    label = desc or "progress"
    marks = {round(total * q / QUARTERS) for q in range(1, QUARTERS)} if total else set()
    start = time.perf_counter()

    def say(i: int) -> None:
        of = f"/{total}" if total else ""
        print(f"{label}: {i}{of} ({time.perf_counter() - start:.1f} s)", file=stream, flush=True)

    say(0)
    i = 0
    for i, item in enumerate(iterable, 1):
        yield item
        if i in marks:
            say(i)
    if i and i not in marks:
        say(i)


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    """``tqdm`` where it redraws in place, ``sparse`` lines elsewhere (see the module's docstring)."""
    if not interactive():
        return sparse(iterable, desc, total)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, **kwargs)
