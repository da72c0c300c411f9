"""The math: one module per law family and one batched fitting engine (:mod:`fitters.engine`).

``LAWS`` maps each law's name to its :class:`fitters.law.Law`; :func:`get_law` looks one up with an
error that lists the choices.
"""
from __future__ import annotations

from . import chinchilla, error, kaplan, loss2loss, overtrain, sigmoid
from .law import Law

LAWS: dict[str, Law] = {law.name: law for law in (chinchilla.LAW, kaplan.LAW, overtrain.LAW,
                                                  loss2loss.LAW, sigmoid.LAW, error.LAW)}


from . import multipower, tissue     # noqa: E402  whole-curve laws across learning-rate schedules

LAWS.update({law.name: law for law in (tissue.LAW, multipower.LAW)})

from . import mixture_additive, mixture_joint, mixture_linear, mixture_ye  # noqa: E402  data-mixture laws (families per domain set)

LAWS.update({law.name: law for law in (mixture_ye.LAW, mixture_additive.LAW, mixture_joint.LAW, mixture_linear.LAW)})

from . import qat  # noqa: E402  compute-optimal QAT (Dremov et al. 2025)

LAWS.update({law.name: law for law in (qat.LAW, qat.CLOSED_FORM)})

from . import kaplan_e  # noqa: E402  Kaplan form plus E (loss2loss shifts, Brandfonbrener et al. 2024)

LAWS[kaplan_e.LAW.name] = kaplan_e.LAW


def get_law(name: str | Law) -> Law:
    """The law called ``name`` (a :class:`Law` passes through)."""
    if isinstance(name, Law):
        return name
    try:
        return LAWS[name]
    except KeyError:
        raise KeyError(f"unknown law {name!r}; choose one of {sorted(LAWS)}") from None
