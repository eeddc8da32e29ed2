"""Progress bars for long loops.

Under ``ftscope run`` (which sets ``FTSCOPE_RUNNER=1``) bars go to the kernel's real
stderr, i.e. the terminal or CI log that started the run, and stay out of the rendered
book. Anywhere else (Jupyter, plain papermill, a script) they are ordinary ``tqdm.auto`` bars.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    if os.environ.get("FTSCOPE_RUNNER") == "1":
        from tqdm import tqdm

        return tqdm(iterable, desc=desc, total=total, file=sys.__stderr__, mininterval=5.0, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, **kwargs)
