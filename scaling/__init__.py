"""The front door of the toolkit: runs table, fit/predict/plan, published laws, the `scaling` command."""
from .approaches import approach1, approach2
from .chain import ChainedFit, chain
from .datasets import mixture_ladder, qat_ladder, reference_ladder
from .errors import InputError
from .figure import plot
from .fit import fit
from .plan import plan
from .published import published, published_names
from .result import FitResult, load_fit
from .runs import read_runs

SUBMODULES = ("curves", "plots", "curve_plots", "downstream_plots", "mixture_plots", "qat_plots", "runs",
              "qat_measure", "mixture_data")      # reachable as scaling.<name> after `import scaling`


def __getattr__(name: str):
    """``scaling.plots`` and the other figure modules without importing matplotlib on ``import scaling``
    (PEP 562 module attributes)."""
    if name in SUBMODULES:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'scaling' has no attribute {name!r}")


__all__ = ["ChainedFit", "FitResult", "chain", "InputError", "approach1", "approach2", "fit", "load_fit", "mixture_ladder", "plan", "plot", "published", "published_names", "qat_ladder", "read_runs", "reference_ladder"]
