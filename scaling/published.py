"""Published laws, typed from the papers into ``data/published/NAME.json`` (with citations).

``published(name)`` returns a :class:`FitResult` usable wherever a fit is (``predict``, ``plan``,
plots).  Papers publish at most marginal standard errors, not a covariance or bootstrap samples,
so a published law carries no samples and its predictions and plans have no interval.
"""
from __future__ import annotations

import json
from importlib import resources

from .errors import InputError
from .result import FitResult


def _folder():
    return resources.files("scaling._data") / "published"


def published_names() -> list[str]:
    """Names accepted by :func:`published`."""
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".json"))


def published(name: str) -> FitResult:
    """The published law ``name`` as a FitResult usable wherever a fit is (``predict``, ``plan``, ``plot``).

    Names (:func:`published_names`): ``besiroglu2024`` (the Chinchilla refit, Besiroglu et al. 2024),
    ``hoffmann2022`` (and ``hoffmann2022_unrounded``), ``kaplan2020``; ``dremov2025`` is the closed form
    of the optimal QAT fraction alone.  ``result.source`` cites the paper and table.  A published law carries
    no parameter samples: ``predict`` gives NaN interval ends and ``plan`` intervals of None."""
    names = published_names()
    if name not in names:
        raise InputError(f"unknown published law {name!r}; choose one of {names}")
    d = json.loads((_folder() / f"{name}.json").read_text())
    result = FitResult.from_dict({**d, "uncertainty": "none"})
    result.options = {"published": name}
    if d.get("note"):
        result.diagnostics = {"note": d["note"]}
    return result
