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
mesh), ``spec`` (ladder specs), ``execute`` (running a ladder).
"""
from .config import RunConfig
from .execute import ladder_status, read_ladder_runs, run_ladder
from .model import ModelConfig, param_counts
from .schedules import lr_array, parse_schedule, schedule_from_dict, schedule_to_dict
from .spec import LadderSpec, SpecError, expand_spec, load_spec
from .train import train_run

__all__ = [
    "LadderSpec", "ModelConfig", "RunConfig", "SpecError", "expand_spec", "ladder_status", "load_spec",
    "lr_array", "param_counts", "parse_schedule", "read_ladder_runs", "run_ladder", "schedule_from_dict",
    "schedule_to_dict", "train_run",
]
