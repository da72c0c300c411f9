"""Progress bars on stderr: live on a terminal, sparse in a log file (a redirected stderr would otherwise
get a line every 0.1 s of a long ladder)."""
from __future__ import annotations

import sys

from tqdm import tqdm          # the text bar: tqdm.auto warns in notebooks without ipywidgets

LOG_INTERVAL_S = 30.0          # seconds between updates when stderr is not a terminal


def progress_bar(**options) -> tqdm:
    """A tqdm bar on stderr with ``options``, updating at most every :data:`LOG_INTERVAL_S` seconds when
    stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        options.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(file=sys.stderr, **options)
