"""Joint data-mixture law (Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures", arXiv:2507.09404, the joint law):

    L(N, D, h) = E + 1 / (sum_j C_j h_j^gamma_j) + A_h / N^alpha + B_h / D^beta,
    A_h = (sum_j CA_j h_j)^gamma_A,   B_h = (sum_j CB_j h_j)^gamma_B

As the additive law (:mod:`fitters.mixture_additive`), but the amplitudes of the model-size and
data terms depend on the mixture, so the best mixture moves with N and D.  Fit space
``(log E, log C_j, log CA_j, log CB_j, log gamma_j, gamma_A, alpha, gamma_B, beta)``::

    log A_h = gamma_A LSE_j(log CA_j + log h_j)

The law needs N or D to vary across the fitted rows (a term that does not vary is dropped as in
the additive law; with neither varying, fit ``mixture-additive``).  Starts: the additive law's
heuristic starts with every ``CA_j = A``, ``CB_j = B`` and ``gamma_A = gamma_B = 1`` (A_h = A,
B_h = B at every mixture), then random perturbations, twice as many starts as the additive law (with
as many as the additive law, 1 synthetic fit in the tests missed the best basin).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import mixture_additive as additive
from .mixture import FIT_DEFAULTS, MAX_STARTS, Family, family, masked_log_power, split_inputs, stack


def params(domains, scale):
    names, fit_names, n_log, _ = additive.layout(domains, scale, joint=True)
    return names, fit_names, n_log


def log_predict(domains, scale):
    _, _, _, blocks = additive.layout(domains, scale, joint=True)

    def f(theta, X):
        terms = list(additive.log_terms(domains, blocks, theta, X))
        H = stack(X, domains)
        for col, big, small in (("params", "A", "alpha"), ("tokens", "B", "beta")):
            if col in scale:
                log_amp = jax.nn.logsumexp(masked_log_power(H, theta[blocks[f"C{big}_{domains[0]}"]], 1.0), axis=-1)
                g, expo = theta[blocks[f"gamma_{big}"]]
                terms.append(g * log_amp - expo * jnp.log(X[col]))
        return jax.nn.logsumexp(jnp.stack(terms, axis=-1), axis=-1)

    return f


def starts(H, y, S, law, rng):
    domains, scale = split_inputs(law.inputs)
    names, _, _, blocks = additive.layout(domains, scale, joint=True)
    rows = []
    for h in additive.heuristic(H, y, S, scale):
        t = additive.mixture_start(h, len(names), blocks, domains)
        for (amp, expo), big in zip(h["scale"], [b for c, b in (("params", "A"), ("tokens", "B")) if c in scale]):
            t[blocks[f"C{big}_{domains[0]}"]] = np.log(amp)
            t[blocks[f"gamma_{big}"]] = (1.0, expo)
        rows.append(t)
    return additive.perturb(np.array(rows), blocks, domains, H.shape[1], rng, np.min(y), total=2 * MAX_STARTS)


SPEC = Family(
    name="mixture-joint",
    formula="L = E + 1/(sum_j C_j h_j^gamma_j) + (sum_j CA_j h_j)^gamma_A/N^alpha + (sum_j CB_j h_j)^gamma_B/D^beta",
    citation="Shukor et al. 2025, arXiv:2507.09404 (joint law)",
    params=params, log_predict=log_predict, starts=starts, defaults=FIT_DEFAULTS, scale="required",
)
LAW = family(SPEC)
