"""The JAX ladder trainer: small decoder-only transformers trained on CPU/GPU/TPU to produce
loss curves (rows of the runs table) for scaling-law fits.

Public API::

    from ladders import run_ladder, ladder_status, read_ladder_runs, load_spec, train_run
    status = run_ladder("ladder.toml", "out/")          # every run of a spec, resumable
    rows = read_ladder_runs("out/")                     # runs-table DataFrame
    spec = load_spec("ladder.toml")
    big = spec.make_run(width=128, depth=4, heads=4, tokens_per_param=20)   # a held-out run
    train_run(big, "out/")

Modules: ``model`` (transformer), ``tokenizer`` (bytes), ``corpus`` (embedded default and user
corpora), ``data`` (mixture batches), ``schedules`` (learning rates), ``config`` (RunConfig),
``train`` (the loop), ``checkpoint``, ``runlog`` (files of a run), ``parallel`` (data-parallel
mesh), ``spec`` (ladder specs), ``mixtures`` (many mixtures for a spec: lattices, Dirichlet
samples), ``execute`` (running a ladder), ``quant`` (fake quantization for QAT), ``branches``
(QAT ladders: their runs and the FP trunks they fork from).
"""
import importlib

# Lazy attributes (PEP 562): ``import ladders.schedules`` stays light (NumPy only), so the
# whole-curve laws can reuse ``lr_array`` without importing JAX, optax or pandas.
_EXPORTS = {
    "RunConfig": "config", "ladder_status": "execute", "read_ladder_runs": "execute", "run_ladder": "execute",
    "ModelConfig": "model", "param_counts": "model", "lr_array": "schedules", "parse_schedule": "schedules",
    "schedule_from_dict": "schedules", "schedule_to_dict": "schedules", "schedule_to_string": "schedules",
    "LadderSpec": "spec", "SpecError": "spec", "expand_spec": "spec", "load_spec": "spec", "train_run": "train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ladders' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
