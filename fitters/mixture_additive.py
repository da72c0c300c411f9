"""Additive data-mixture law (Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures", arXiv:2507.09404, the additive law):

    L(N, D, h) = E + 1 / (sum_j C_j h_j^gamma_j) + A / N^alpha + B / D^beta

h the training-mixture weights (``mix.<domain>`` columns), N the model size, D the training tokens:
the mixture moves the loss by a term that does not depend on scale, so the best mixture is the same
at every N and D.  Fitted, as every loss law here, by the summed Huber loss (delta 1e-3) of log
residuals, in fit space ``(log E, log C_j, [log A, log B], log gamma_j, [alpha, beta])`` (C_j, gamma_j > 0)::

    log L = LSE(log E, -LSE_j(log C_j + gamma_j log h_j), log A - alpha log N, log B - beta log D)

where a domain with ``h_j = 0`` contributes nothing.  When every fitted row has the same N (or D)
the N (or D) term is a constant: it is dropped, absorbed in E, and the fit says so
(:mod:`fitters.mixture`).  A run logged at several steps contributes its final row (``rows="final"``,
the default; ``rows="all"`` fits every step, so D varies: :mod:`fitters.mixture`).  Starts (``MAX_STARTS``, data-dependent; a product grid over 2K + 5
parameters is out of reach): for E at fractions of the smallest loss and N, D terms taking shares of
the rest, the C_j solving ``1 / (L - E - ...) = sum_j C_j h_j^gamma`` by non-negative least squares
at gamma = 1 and 1/2, then random perturbations of those.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import nnls

from .mixture import FIT_DEFAULTS, MAX_STARTS, Family, family, masked_log_power, split_inputs, stack

E_FRACTIONS = (0.02, 0.3, 0.6, 0.8, 0.9)    # heuristic E, as fractions of the smallest fitted loss
SCALE_SHARES = (0.1, 0.3)                   # share of the median reducible loss given to each N/D term
EXPONENTS = (0.3, 0.6)                      # alpha, beta of the heuristic starts
MIX_GAMMAS = (1.0, 0.5)                     # gamma_j of the heuristic starts


def layout(domains, scale, joint: bool = False):
    """Parameter names, fit names, number of log coordinates, and where each block sits in theta.

    Additive: ``E, C_j, [A], [B], gamma_j, [alpha], [beta]``; joint (:mod:`fitters.mixture_joint`):
    ``E, C_j, [CA_j], [CB_j], gamma_j, [gamma_A, alpha], [gamma_B, beta]``.
    """
    has = {"N": "params" in scale, "D": "tokens" in scale}
    logs, plain, blocks = [("E",)], [], {}
    logs.append(tuple(f"C_{d}" for d in domains))
    for k, big in (("N", "A"), ("D", "B")):
        if has[k]:
            logs.append(tuple(f"C{big}_{d}" for d in domains) if joint else (big,))
    logs.append(tuple(f"gamma_{d}" for d in domains))
    for k, big, small in (("N", "A", "alpha"), ("D", "B", "beta")):
        if has[k]:
            plain.append((f"gamma_{big}", small) if joint else (small,))
    names, pos = [], 0
    for block in logs + plain:
        blocks[block[0]] = slice(pos, pos + len(block))
        names += block
        pos += len(block)
    n_log = sum(len(b) for b in logs)
    fit_names = [f"log_{n}" for n in names[:n_log]] + names[n_log:]
    return names, fit_names, n_log, blocks


def params(domains, scale):
    names, fit_names, n_log, _ = layout(domains, scale)
    return names, fit_names, n_log


def log_terms(domains, blocks, theta, X):
    """The log of E and of the mixture term 1 / sum_j C_j h_j^gamma_j, per row."""
    H = stack(X, domains)
    log_s = jax.nn.logsumexp(masked_log_power(H, theta[blocks["C_" + domains[0]]],
                                              jnp.exp(theta[blocks["gamma_" + domains[0]]])), axis=-1)
    return jnp.broadcast_to(theta[0], log_s.shape), -log_s


def log_predict(domains, scale):
    _, _, _, blocks = layout(domains, scale)

    def f(theta, X):
        terms = list(log_terms(domains, blocks, theta, X))
        if "params" in scale:
            terms.append(theta[blocks["A"]][0] - theta[blocks["alpha"]][0] * jnp.log(X["params"]))
        if "tokens" in scale:
            terms.append(theta[blocks["B"]][0] - theta[blocks["beta"]][0] * jnp.log(X["tokens"]))
        return jax.nn.logsumexp(jnp.stack(terms, axis=-1), axis=-1)

    return f


def heuristic(H, y, S, scale):
    """Heuristic starts as dicts: E, C (K,), gamma, and per present scale term (amplitude, exponent)."""
    out = []
    reducible = np.median(y) - np.min(y)
    for fe in E_FRACTIONS:
        e = fe * np.min(y)
        shares = [()] if not scale else [tuple(s for _ in scale) for s in SCALE_SHARES]
        for share in shares:
            for expo in (EXPONENTS if scale else (None,)):
                rest = y - e
                amps = []
                for j, s in enumerate(share):
                    amp = s * (np.median(y) - e) * np.median(S[:, j]) ** expo
                    rest = rest - amp * S[:, j] ** -expo
                    amps.append((amp, expo))
                floor = 0.05 * max(reducible, 1e-3 * np.min(y))
                target = 1.0 / np.maximum(rest, floor)
                for g in MIX_GAMMAS:
                    c = nnls(H ** g, target)[0]
                    c = np.maximum(c, 1e-3 * max(c.max(), 1e-12))
                    out.append({"E": e, "C": c, "gamma": g, "scale": amps})
    return out


def mixture_start(h, n_params, blocks, domains) -> np.ndarray:
    """A fit-space start with E, C_j and gamma_j from the heuristic start ``h``; the N and D entries 0."""
    t = np.zeros(n_params)
    t[0] = np.log(h["E"])
    t[blocks["C_" + domains[0]]] = np.log(h["C"])
    t[blocks["gamma_" + domains[0]]] = np.log(h["gamma"])
    return t


def starts(H, y, S, law, rng, total=MAX_STARTS):
    domains, scale = split_inputs(law.inputs)
    names, _, _, blocks = layout(domains, scale)
    rows = []
    for h in heuristic(H, y, S, scale):
        t = mixture_start(h, len(names), blocks, domains)
        terms = [(b, e) for c, b, e in (("params", "A", "alpha"), ("tokens", "B", "beta")) if c in scale]
        for (amp, expo), (big, small) in zip(h["scale"], terms):
            t[blocks[big]], t[blocks[small]] = np.log(amp), expo
        rows.append(t)
    return perturb(np.array(rows), blocks, domains, H.shape[1], rng, np.min(y), total)


def perturb(base, blocks, domains, K, rng, y_min, total=MAX_STARTS):
    """Fill up to ``total`` starts with random perturbations of the heuristic starts (E, C_j, gamma_j)."""
    n_new = max(0, total - len(base))
    pick = base[rng.integers(0, len(base), n_new)].copy()
    c, g = blocks["C_" + domains[0]], blocks["gamma_" + domains[0]]
    pick[:, c] += rng.normal(0, 0.7, (n_new, K))
    pick[:, g] = np.log(rng.uniform(0.15, 1.5, (n_new, K)))
    pick[:, 0] = np.log(rng.uniform(0.01, 0.95, n_new) * y_min)
    return np.vstack([base, pick])


SPEC = Family(
    name="mixture-additive",
    formula="L = E + 1/(sum_j C_j h_j^gamma_j) + A/N^alpha + B/D^beta",
    citation="Shukor et al. 2025, arXiv:2507.09404 (additive law)",
    params=params, log_predict=log_predict, starts=starts, defaults=FIT_DEFAULTS, scale="optional",
)
LAW = family(SPEC)
