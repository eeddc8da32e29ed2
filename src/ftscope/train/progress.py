"""Progress bars for long loops.

Bars go to the notebook's stderr: live in Jupyter, and kept out of the rendered book
(``nb_output_stderr: remove`` in ``_config.yml``). Under ``ftscope run`` (which sets
``FTSCOPE_RUNNER=1``) they update at most every 10 s so executed notebooks stay small; the
terminal shows papermill's cell-by-cell bar instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    if os.environ.get("FTSCOPE_RUNNER") == "1":
        from tqdm.std import tqdm

        return tqdm(iterable, desc=desc, total=total, mininterval=10.0, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, **kwargs)
