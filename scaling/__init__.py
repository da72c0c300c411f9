"""The front door of the toolkit: runs table, fit/predict/plan, the `scaling` command."""
from .errors import InputError
from .runs import read_runs

__all__ = ["InputError", "read_runs"]
