"""Many training mixtures from one line of a ladder spec: simplex lattices and Dirichlet samples.

A mixture ladder trains the same sizes over many domain weightings ``h`` (points of the simplex
``h_j >= 0, sum_j h_j = 1``) so that a data-mixing law can be fitted to them (Ye et al. 2024,
"Data Mixing Laws"; Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures"; Liu et al.
2024, "RegMix", who sample their 512 proxy mixtures at random).  Instead of listing each one as a
``[[mixtures]]`` entry, a spec may give a ``[mixtures]`` *table* of generators::

    [mixtures]
    include = [{code = 0.6, prose = 0.4}]          # explicit mixtures (missing domains get 0)
    uniform = true                                 # the uniform mixture 1/k each
    vertices = true                                # each domain alone (1, 0, ..., 0)
    lattice = 4                                    # every h with h_j in {0, 1/4, ..., 1}: the
                                                   # {k, m} simplex-lattice design, C(m+k-1, k-1) points
    random = {count = 24, seed = 0, alpha = 1.0}   # Dirichlet(alpha) samples; alpha is a number or
                                                   # a table {domain = a_j}; alpha = 1 is uniform
                                                   # on the simplex

The mixtures come in that order (include, uniform, vertices, lattice, random), with repeats
(equal to ``1e-4``) dropped.  Random weights are rounded to multiples of ``1e-4`` summing to 1
(largest remainder), so they read cleanly in the runs table and the run ids (a hash of the run's
config) do not depend on the last bits of a floating-point draw.  Random draws are made one
mixture at a time from ``numpy.random.default_rng(seed)``, so raising ``count`` keeps the first
mixtures, and therefore those runs, unchanged.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

GENERATOR_KEYS = {"include", "uniform", "vertices", "lattice", "random"}
RANDOM_KEYS = {"count", "seed", "alpha"}
RESOLUTION = 10_000  # weights are multiples of 1 / RESOLUTION


class MixtureSpecError(ValueError):
    """A ``[mixtures]`` table that cannot be expanded; the message names the key."""


def quantize(weights, resolution: int = RESOLUTION) -> np.ndarray:
    """Weights rounded to multiples of ``1/resolution`` that sum exactly to 1 (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    scaled = w * resolution
    units = np.floor(scaled).astype(int)
    short = resolution - units.sum()
    units[np.argsort(-(scaled - units), kind="stable")[:short]] += 1
    return units / resolution


def lattice(k: int, m: int) -> np.ndarray:
    """The ``{k, m}`` simplex lattice: all ``h`` with ``h_j = i_j / m``, ``sum i_j = m`` (rows,
    lexicographic with the first domain's weight descending); ``C(m + k - 1, k - 1)`` rows."""
    rows = [c for c in itertools.product(range(m, -1, -1), repeat=k) if sum(c) == m]
    return np.array(rows, dtype=float) / m


def dirichlet(k: int, count: int, seed: int, alpha) -> np.ndarray:
    """``count`` Dirichlet(``alpha``) draws over ``k`` domains, one row per draw (prefix-stable)."""
    rng = np.random.default_rng(seed)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (k,))
    return np.array([rng.dirichlet(alpha) for _ in range(count)]).reshape(count, k)


def _positive_int(value, where: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise MixtureSpecError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _alpha(value, domains: list) -> list:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(domains))
        if unknown:
            raise MixtureSpecError(f"[mixtures].random.alpha names unknown domain(s) {unknown}; domains: {domains}")
        missing = [d for d in domains if d not in value]
        if missing:
            raise MixtureSpecError(f"[mixtures].random.alpha lacks domain(s) {missing}")
        values = [value[d] for d in domains]
    else:
        values = [value] * len(domains)
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not (math.isfinite(v) and v > 0):
            raise MixtureSpecError(f"[mixtures].random.alpha must be positive numbers, got {value!r}")
    return [float(v) for v in values]


def _include(entries, domains: list) -> list:
    entries = entries if isinstance(entries, list) else [entries]
    out = []
    for i, m in enumerate(entries):
        where = f"[mixtures].include[{i}]"
        if not isinstance(m, dict):
            raise MixtureSpecError(f"{where} must be a table {{domain = weight}}, got {m!r}")
        unknown = sorted(set(m) - set(domains))
        if unknown:
            raise MixtureSpecError(f"{where}: unknown domain(s) {unknown}; domains: {domains}")
        w = [m.get(d, 0) for d in domains]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0 for v in w) or not sum(w) > 0:
            raise MixtureSpecError(f"{where}: weights must be numbers >= 0 with a positive sum, got {m!r}")
        out.append(np.asarray(w, dtype=float) / sum(w))
    return out


def generate_mixtures(table: dict, domains) -> list:
    """The mixtures ``[{domain: weight}, ...]`` of a ``[mixtures]`` generator table (module doc)."""
    domains = list(domains)
    k = len(domains)
    if not isinstance(table, dict):
        raise MixtureSpecError(f"[mixtures] must be a table of generators, got {table!r}")
    unknown = sorted(set(table) - GENERATOR_KEYS)
    if unknown:
        raise MixtureSpecError(f"[mixtures]: unknown key(s) {unknown}; allowed: {sorted(GENERATOR_KEYS)} "
                               "(or give a list of [[mixtures]] tables)")
    if not table:
        raise MixtureSpecError(f"[mixtures] is empty; give one of {sorted(GENERATOR_KEYS)}")
    rows = []
    if "include" in table:
        rows += _include(table["include"], domains)
    for flag in ("uniform", "vertices"):
        if flag in table and not isinstance(table[flag], bool):
            raise MixtureSpecError(f"[mixtures].{flag} must be true or false, got {table[flag]!r}")
    if table.get("uniform"):
        rows.append(np.full(k, 1.0 / k))
    if table.get("vertices"):
        rows += list(np.eye(k))
    if "lattice" in table:
        rows += list(lattice(k, _positive_int(table["lattice"], "[mixtures].lattice")))
    if "random" in table:
        r = table["random"]
        if not isinstance(r, dict):
            raise MixtureSpecError(f"[mixtures].random must be a table {{count, seed, alpha}}, got {r!r}")
        bad = sorted(set(r) - RANDOM_KEYS)
        if bad:
            raise MixtureSpecError(f"[mixtures].random: unknown key(s) {bad}; allowed: {sorted(RANDOM_KEYS)}")
        if "count" not in r:
            raise MixtureSpecError("[mixtures].random needs count (the number of mixtures to draw)")
        count = _positive_int(r["count"], "[mixtures].random.count")
        seed = _positive_int(r.get("seed", 0), "[mixtures].random.seed", minimum=0)
        rows += [quantize(w) for w in dirichlet(k, count, seed, _alpha(r.get("alpha", 1.0), domains))]
    out, seen = [], set()
    for w in rows:
        key = tuple(np.rint(w * RESOLUTION).astype(int))
        if key not in seen:
            seen.add(key)
            out.append({d: float(v) for d, v in zip(domains, w)})
    return out
