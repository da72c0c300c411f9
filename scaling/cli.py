"""The ``scaling`` command: a thin shell over the Python API (see DESIGN.md, "Command line").

Exit codes: 0 ok, 2 bad input (the reason on stderr), 1 internal failure.  With ``--json``,
stdout holds exactly one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

from .errors import InputError


def _mapping(items) -> dict[str, str]:
    """``["params=Model Size", ...]`` -> ``{"params": "Model Size"}``."""
    out = {}
    for item in items or []:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise InputError(f"--map {item!r}: write COLUMN=NAME, e.g. --map params='Model Size'")
        out[ours.strip()] = theirs.strip()
    return out


def _read_data(args, **options):
    """The runs table of ``--data`` (or the fit's positional data) with ``--map``, ``--loss-unit`` and
    ``--bytes-per-token`` applied."""
    from .runs import read_runs
    return read_runs(args.data, _mapping(args.map), loss_unit=args.loss_unit, bytes_per_token=args.bytes_per_token,
                     **options)


def _data_flags(parser) -> None:
    """``--map``, ``--loss-unit``, ``--bytes-per-token``: how to read a runs table."""
    from .runs import LOSS_UNITS
    parser.add_argument("--map", action="append", metavar="COL=NAME", help="read column COL from the file's NAME")
    parser.add_argument("--loss-unit", default="nats", choices=LOSS_UNITS,
                        help="unit of the file's loss (default nats per token; converted on reading)")
    parser.add_argument("--bytes-per-token", type=float, metavar="B",
                        help="with a per-byte --loss-unit: the tokenizer's mean bytes per token on that text")


def _emit(args, obj: dict, text: str) -> None:
    from .result import json_safe
    print(json.dumps(json_safe(obj)) if args.json else text)


def _load(args):
    from .published import published
    from .result import load_fit
    if args.published and args.fit:
        raise InputError("give either a fit file or --published NAME, not both")
    if args.published:
        return published(args.published)
    if not args.fit:
        raise InputError("give a fit file (from `scaling fit ... --out FIT.json`) or --published NAME")
    return load_fit(args.fit)


def _check_out(path) -> None:
    """An output file's folder must exist and the path must not be a folder: said before any fitting."""
    if path is None:
        return
    out = Path(path)
    if out.is_dir():
        raise InputError(f"--out {path}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {path}: no folder {out.parent}")


def cmd_fit(args) -> None:
    from .approaches import APPROACHES, isoflop_fit
    _check_out(args.out)
    from .curves import cli_fit
    from .fit import fit
    fit = cli_fit(fit, args)            # --schedules / --schedule of the whole-curve laws
    if args.law in APPROACHES:
        options = {k: v for k, v in (("n_bins", args.n_bins), ("budget_rtol", args.budget_rtol),
                                     ("loss_window", args.loss_window)) if v is not None}
        result = isoflop_fit(args.law, _read_data(args, required=()), dataset=args.dataset, level=args.level, **options)
        obj = {"law": args.law, **result.to_dict()}
        if args.out:
            from .result import json_safe
            Path(args.out).write_text(json.dumps(json_safe(obj), indent=1) + "\n")
        _emit(args, obj, result.summary())
        return
    model_error = getattr(args, "model_error", False)
    from fitters import get_law
    from .chain import COMPOSITES
    if args.law not in COMPOSITES:
        try:
            get_law(args.law)                   # a misspelt law is named before the data are read
        except KeyError as e:
            raise InputError(str(e.args[0])) from None
    data = _read_data(args, required=())        # read once: the refits without each run (--model-error) use it too
    result = fit(args.law, data, dataset=args.dataset, loss=args.loss,
                 space=args.space, delta=args.delta, bootstrap=args.bootstrap,
                 bootstrap_starts=args.bootstrap_starts, seed=args.seed, level=args.level, **_law_options(args))
    if model_error:
        from .curves import _cli_schedules, add_model_error
        from .fit import select_dataset
        result = add_model_error(result, select_dataset(data, args.dataset), _cli_schedules(args))
    if args.out:
        result.to_json(args.out)
    if not result.converged:
        print(f"warning: the {result.law.name} fit did not converge", file=sys.stderr)
    _emit(args, result.to_dict(full=False), result.summary())


def _interval(v):
    return "" if not v else f"   [{v[0]:.6g}, {v[1]:.6g}]"


def _law_options(args) -> dict:
    """Options of the loss-to-loss, error and task fits given on the command line."""
    opts = {k: getattr(args, k, None) for k in ("x", "y", "pair", "unpaired", "skip", "window", "checkpoints", "rows")}
    tasks = getattr(args, "task", None)
    if tasks:
        opts["task"] = tasks[0] if len(tasks) == 1 else tasks
    targets = getattr(args, "target", None)
    if targets:
        opts["target"] = _target(targets)
    if getattr(args, "chinchilla", None) is not None:
        opts["chinchilla"] = _chinchilla_part(args.chinchilla)
    opts["chinchilla_tokens"] = getattr(args, "chinchilla_tokens", None)
    shifts = getattr(args, "shifts", None)
    if shifts is not None:
        opts["shifts"] = shifts if shifts in ("scaling", "fit") else _float_mapping(shifts, "--shifts")
    opts["shift_law"] = getattr(args, "shift_law", None)
    return {k: v for k, v in opts.items() if v is not None}


def _target(items) -> str | dict[str, float]:
    """``["Pile-CC"]`` -> ``"Pile-CC"``; ``["A=0.5", "B=0.5"]`` -> ``{"A": 0.5, "B": 0.5}`` (a weighted target)."""
    if len(items) == 1 and "=" not in items[0]:
        return items[0]
    return _pairs(items, "--target", "DATASET=WEIGHT")


def _pairs(items, flag: str, form: str) -> dict[str, float]:
    """Repeated ``NAME=NUMBER`` flags -> ``{NAME: number}``."""
    out = {}
    for item in items or []:
        k, sep, v = str(item).rpartition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            sep = ""
        if not sep or not k.strip():
            raise InputError(f"{flag} {item!r}: write {form} (repeat the flag for each), e.g. {flag} code=0.3")
    return out


def _chinchilla_part(name: str) -> dict:
    """``--chinchilla``: a Chinchilla fit file or a published law's name -> its parameters."""
    from .published import published
    from .result import load_fit
    fit = load_fit(name) if Path(name).exists() else published(name)
    if fit.law.name != "chinchilla":
        raise InputError(f"--chinchilla {name}: a {fit.law.name!r} law; give a chinchilla fit file or a published "
                         f"Chinchilla law (e.g. besiroglu2024)")
    return dict(fit.params)


def _float_mapping(text: str, flag: str) -> dict[str, float]:
    """``"E_x=1.8,E_y=2.2"`` -> ``{"E_x": 1.8, "E_y": 2.2}``."""
    out = {}
    for item in text.split(","):
        k, sep, v = item.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            sep = ""
        if not sep or not k.strip():
            raise InputError(f"{flag} {text!r}: write NAME=VALUE[,NAME=VALUE], e.g. {flag} E_x=1.8,E_y=2.2")
    return out


def _load_predict(args):
    """The fit to predict with: one file, --published NAME, or several chained (each feeds the next)."""
    from .chain import chain
    from .published import published
    fits = list(args.fit or [])
    if len(fits) + bool(args.published) > 1:
        return chain(*([published(args.published)] if args.published else []), *fits)
    args.fit = fits[0] if fits else None
    return _load(args)


def predict_rows(args, predict) -> None:
    """``predict`` (rows -> rows + predictions) on every row of ``--data``: to ``--out`` (CSV), as JSON
    ``{"rows": [...]}`` with ``--json``, else printed."""
    from .result import json_safe
    pred = predict(_read_data(args, required=(), check_duplicates=False, unmeasured=True))
    if args.out:
        pred.to_csv(args.out, index=False)
    if args.json:
        print(json.dumps(json_safe({"rows": pred.to_dict(orient="records")})))
    elif not args.out:
        print(pred.to_string(index=False))


MAX_DPI = 1200        # a 6.4 x 5.6 inch figure at 1200 dpi is ~50 megapixels


def cmd_plot(args) -> None:
    import matplotlib
    matplotlib.use("Agg")                       # files only: no display needed
    from .curves import _cli_schedules
    from .figure import kinds, plot
    from .result import load_fit
    _check_out(args.out)
    if not 0 < args.dpi <= MAX_DPI:
        raise InputError(f"--dpi {args.dpi}: give a resolution in (0, {MAX_DPI}] dots per inch")
    fit = load_fit(args.fit)
    runs = None if not args.data else _read_data(args, required=(), check_duplicates=False)
    kind = args.kind or next(iter(kinds(fit)), None)      # None: plot() says the law has no figure
    fig = plot(fit, runs, kind=kind, schedules=_cli_schedules(args))
    out = Path(args.out) if Path(args.out).suffix else Path(args.out).with_suffix(".png")   # the file savefig writes
    try:
        fig.savefig(out, dpi=args.dpi)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot write {out}: {e}") from None
    _emit(args, {"figure": str(out), "kind": kind}, f"{kind} figure written to {out}")


def cmd_predict(args) -> None:
    import pandas as pd
    _check_out(args.out)
    if args.schedule or args.schedules:     # whole-curve laws: a curve for a schedule, or runs with their schedules
        from .curves import cli_predict
        return cli_predict(args, _emit)
    given = {"params": args.params, "tokens": args.tokens, "flops": args.flops, "loss": args.loss,
             "bits": args.bits, "qat_fraction": args.qat_fraction}
    point = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if args.data and point:
        raise InputError(f"give either --data RUNS or a point ({' '.join(point)}), not both")
    if all(given[k] is not None for k in ("params", "tokens", "flops")):
        raise InputError("give two of --params, --tokens, --flops: the third follows from C = 6ND")
    result = _load_predict(args)
    if args.data:
        return predict_rows(args, result.predict)
    from .curves import is_curve_law
    if not hasattr(result, "stages") and is_curve_law(result.law):
        raise InputError(f"a {result.law.name} fit predicts a loss curve from a learning-rate schedule: --schedule "
                         "SCHEDULE --steps T (e.g. 'cosine:peak=3e-4,warmup=2000'), or --data RUNS --schedules FILE")
    rows = pd.DataFrame({k: [v] for k, v in given.items() if v is not None})
    flags = {"params": "--params N", "tokens": "--tokens D (or --flops C)", "loss": "--loss L", "bits": "--bits B",
             "qat_fraction": "--qat-fraction F"}
    law = result.stages[0].law if hasattr(result, "stages") else result.law
    lacking = [flags.get(c, c) for c in law.columns if c not in rows.columns and not (c == "tokens" and "flops" in rows)]
    if not rows.empty and lacking:
        raise InputError(f"a {law.name} fit predicts at {', '.join(law.columns)}: give {' and '.join(lacking)}")
    if rows.empty:
        raise InputError("give the point to predict (--params N --tokens D, or --flops C; --loss L for a law of "
                         "a loss; --bits B --qat-fraction F too for a QAT law) or --data RUNS")
    pred = result.predict(rows).iloc[0]
    span = lambda stem: None if pd.isna(pred[f"{stem}_lo"]) else [float(pred[f"{stem}_lo"]), float(pred[f"{stem}_hi"])]
    stems = result.columns() if hasattr(result, "stages") else [result.law.response]
    final = stems[-1]
    obj = {final: float(pred[f"{final}_pred"]), "interval": span(final), "level": result.level,
           "inputs": {k: float(pred[k]) for k in result.law.inputs}}
    for stem in stems[:-1]:               # a chain: every step's prediction, each with its interval
        obj[stem], obj[f"{stem}_interval"] = float(pred[f"{stem}_pred"]), span(stem)
    text = [f"predicted {stem.replace('_', ' ')} {float(pred[f'{stem}_pred']):.6g}{_interval(span(stem))}" for stem in stems]
    _emit(args, obj, "\n".join(text))


PLANNER_FLAGS = {"plan_schedule": "--steps T (or --schedule S)", "plan_mixture": "--mixture",
                 "plan_qat": "--qat", "plan_closed_form": "--qat"}   # a family planner's flag on `scaling plan`


def cmd_plan(args) -> None:
    from .plan import PLANNERS, plan, weak_note
    if args.qat:                                    # QAT: the optimal fraction, or the bit width for a memory budget
        from .plan_qat import cli_plan as qat_plan
        return qat_plan(args, _load(args), _emit)
    if args.bits is not None or args.memory is not None:
        raise InputError("--bits and --memory plan QAT: add --qat")
    if args.mixture:                                # mixture laws: the optimal training mixture
        from .plan_mixture import cli_plan as mixture_plan
        return mixture_plan(args, _load(args), _emit, _pairs)
    if args.floor is not None:                      # schedules: one final learning rate
        if len(args.floor) > 1 or "=" in args.floor[0]:
            raise InputError(f"--floor {args.floor}: with --steps give one final learning rate; --floor DOMAIN=W is "
                             f"for --mixture")
        try:
            args.floor = float(args.floor[0])
        except ValueError:
            raise InputError(f"--floor {args.floor[0]!r}: give the final learning rate as a number") from None
    if args.steps is not None or args.schedule:     # whole-curve laws: the schedule planner
        from .plan_schedule import cli_plan as schedule_plan
        return schedule_plan(args, _load(args), _emit)
    result = _load(args)
    planner = PLANNERS.get(getattr(getattr(result, "law", None), "name", None))
    flag = PLANNER_FLAGS.get(getattr(planner, "__name__", None))
    if flag:
        raise InputError(f"a {result.law.name!r} fit plans with {flag} (see scaling plan --help)")
    if args.params is not None or args.tokens is not None:
        raise InputError("--params and --tokens plan with --mixture or --qat; a compute plan takes --flops C "
                         "(or --loss L with --inference-tokens T)")
    if args.inference_tokens is not None and args.loss is None:
        raise InputError("--inference-tokens goes with --loss L (inference-aware sizing), not with --flops")
    out = plan(result, flops=args.flops, loss=args.loss, inference_tokens=args.inference_tokens, level=args.level)
    keys = [k for k, v in out.items() if isinstance(v, float) and not k.endswith("_interval")]
    lines = [f"plan from {result.law.name} ({result.options.get('published') or args.fit}), {out['accounting']}"]
    lines += [f"  {k:<18}{out[k]:>14.6g}{_interval(out.get(k + '_interval'))}" for k in keys]
    if out.get("uncertainty") == "none":
        lines.append("  (no intervals: this law carries no parameter uncertainty)")
    lines += weak_note(out)
    _emit(args, out, "\n".join(lines))


def cmd_laws(args) -> None:
    from fitters import LAWS

    from .published import published_names
    obj = {"laws": {n: {"formula": law.formula, "params": list(law.names), "inputs": list(law.inputs),
                        "citation": law.citation} for n, law in LAWS.items()},
           "published": published_names()}
    width = max(map(len, LAWS)) + 2
    text = "\n".join([f"{n:<{width}}{law.formula}   ({law.citation})" for n, law in LAWS.items()]
                     + ["published: " + ", ".join(obj["published"])])
    _emit(args, obj, text)


def cmd_ladder_run(args) -> int:
    from ladders import SpecError, run_ladder
    try:
        status = run_ladder(args.spec, args.out, max_workers=args.workers, progress=not args.json)
    except SpecError as e:
        raise InputError(str(e)) from None
    _emit(args, {"runs": status.to_dict(orient="records")}, status.to_string(index=False))
    failed = status[status["status"] == "failed"]
    if len(failed):                     # a run that raised (not one that diverged): the ladder did not do its job
        print(f"error: {len(failed)} of {len(status)} runs failed; the first, {failed['run'].iloc[0]}: "
              f"{failed['error'].iloc[0]} (its status.json has the traceback; a rerun resumes the others)", file=sys.stderr)
        return 1
    return 0


def cmd_ladder_status(args) -> None:
    from ladders import SpecError, ladder_status
    if not Path(args.dir).is_dir():
        raise InputError(f"no ladder directory {args.dir}")
    try:
        status = ladder_status(args.dir)
    except SpecError as e:              # a ladder.json, status.json or config.json that is not what it should be
        raise InputError(str(e)) from None
    _emit(args, {"runs": status.to_dict(orient="records")}, status.to_string(index=False))


def cmd_demo(args) -> None:
    from ladders import SpecError
    from .demo import run_demo, summary_text
    spec = None
    if args.spec:                       # hidden: a ladder spec replacing the preset (tests, experiments)
        from pathlib import Path
        spec = json.loads(Path(args.spec).read_text()) if args.spec.endswith(".json") else args.spec
    try:
        report = run_demo(args.out, quick=args.quick, workers=args.workers, progress=True, spec=spec,
                          ladder_seed=args.seed)
    except SpecError as e:              # e.g. a corrupt status.json left in --out by another program
        raise InputError(str(e)) from None
    _emit(args, report, summary_text(report))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scaling", description="Fit scaling laws, predict big runs, plan compute, train ladders.")
    sub = p.add_subparsers(dest="command", required=True)
    json_flag = dict(action="store_true", help="print one JSON object on stdout and nothing else")

    f = sub.add_parser("fit", help="fit a law to a runs table")
    f.add_argument("law", help="law name (see `scaling laws`), or approach1 / approach2 (Hoffmann et al. 2022)")
    f.add_argument("data", help="runs table: .csv, .parquet or .jsonl, or a folder of them (one file per run, run = file name)")
    _data_flags(f)
    f.add_argument("--dataset", help="which dataset's rows to fit, when the table has several")
    f.add_argument("--bootstrap", type=int, default=0, metavar="B", help="row-bootstrap resamples (default 0: asymptotic intervals)")
    f.add_argument("--bootstrap-starts", default="basins", choices=("basins", "grid", "warm"))
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    f.add_argument("--loss", choices=("huber", "squared"), help="objective (default: the law's, else huber)")
    f.add_argument("--space", choices=("log", "linear"), help="residuals (default: the law's, else log)")
    f.add_argument("--delta", type=float, default=1e-3, help="Huber delta")
    f.add_argument("--n-bins", type=int, help="approach1: log-FLOP bins")
    f.add_argument("--budget-rtol", type=float, help="approach2: group FLOP budgets within this relative tolerance")
    f.add_argument("--loss-window", type=float, help="approach2: fit each parabola to rows within this relative loss of the budget's best")
    f.add_argument("--x", metavar="DATASET", help="loss2loss, error: the dataset whose loss is the input")
    f.add_argument("--y", metavar="DATASET", help="loss2loss: the dataset whose loss is predicted")
    f.add_argument("--task", action="append", metavar="NAME", help="task: the task's dataset name; error: a task "
                   "(repeat to average the error over several)")
    f.add_argument("--pair", choices=("checkpoint", "size", "compute"), help="loss2loss, error: rows paired by "
                   "checkpoint (run and step; default), equal (params, tokens), or equal FLOPs")
    f.add_argument("--shifts", metavar="scaling|fit|E_x=V,E_y=V", help="loss2loss: E from per-dataset Chinchilla fits "
                   "(scaling), fitted (fit), or given; default scaling where the data allow it, else fit with a warning")
    f.add_argument("--shift-law", metavar="LAW", help="loss2loss: the per-dataset law whose E is the shift "
                   "(chinchilla, default; kaplan-e)")
    f.add_argument("--unpaired", choices=("error", "drop"), help="loss2loss, error: rows without a partner (default error)")
    f.add_argument("--checkpoints", choices=("intermediate", "final"), help="task: step 2 points (default intermediate)")
    f.add_argument("--skip", type=float, help="task: share of each run's tokens whose checkpoints step 2 drops (0.1)")
    f.add_argument("--window", type=int, help="task: checkpoints in step 2's moving average (5)")
    f.add_argument("--schedules", metavar="FILE", help="tissue, multipower: learning rates per step (CSV/parquet "
                   "run, step, lr) or per run (JSON run -> schedule); default: the data's lr column")
    f.add_argument("--schedule", action="append", metavar="RUN=SCHEDULE", help="tissue, multipower: one run's "
                   "schedule, e.g. --schedule a=cosine:peak=3e-4,warmup=100,total_steps=10000 (repeat per run)")
    f.add_argument("--warmup", choices=("actual", "peak"), help="tissue, multipower: warmup updates in the forward "
                   "area S1 at their own rates (actual, default) or at the peak rate (peak: Tissue et al.'s convention)")
    f.add_argument("--model-error", action="store_true", help="tissue, multipower: refit without each run in turn "
                   "and widen every interval by the held-out runs' rms error (scaling.curves.add_model_error)")
    f.add_argument("--target", action="append", metavar="DATASET[=WEIGHT]", help="mixture laws: the dataset whose "
                   "loss is the response, or repeated DATASET=WEIGHT for a weighted mean of several (weights normalised)")
    f.add_argument("--rows", choices=("final", "all"), help="mixture laws: each run's final row (default) or every "
                   "row, intermediate evaluation steps included")
    f.add_argument("--chinchilla", metavar="NAME|FIT.json", help="qat: hold the Chinchilla part at a published law "
                   "(e.g. besiroglu2024) or a chinchilla fit file, instead of fitting it to FP rows")
    f.add_argument("--chinchilla-tokens", choices=("total", "fp"), help="qat: D of the Chinchilla part, D_fp + D_qat "
                   "(total, default) or D_fp")
    f.add_argument("--out", metavar="FIT.json", help="save the full result (with samples) for predict/plan")
    f.add_argument("--json", **json_flag)
    f.set_defaults(func=cmd_fit)

    for name, func, helptext in (("predict", cmd_predict, "predict the loss of runs"), ("plan", cmd_plan, "plan compute")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("fit", nargs="*" if name == "predict" else "?",
                       help="FIT.json from `scaling fit --out`" + (" (several: chained, each feeding the next, "
                                                                  "e.g. loss fit then error fit)" if name == "predict" else ""))
        q.add_argument("--published", metavar="NAME", help="use a published law instead of a fit file")
        q.add_argument("--json", **json_flag)
        q.set_defaults(func=func)
        if name == "predict":
            q.add_argument("--params", type=float, metavar="N")
            q.add_argument("--tokens", type=float, metavar="D")
            q.add_argument("--flops", type=float, metavar="C", help="instead of --tokens: D = C / (6N)")
            q.add_argument("--loss", type=float, metavar="L", help="the input of a law of a loss (loss2loss, error, sigmoid)")
            q.add_argument("--bits", type=float, metavar="B", help="qat: the bit width of the point")
            q.add_argument("--qat-fraction", type=float, metavar="F", help="qat: the share of training done QAT")
            q.add_argument("--data", metavar="RUNS", help="predict every row of a runs table (a file or a folder of per-run files)")
            _data_flags(q)
            q.add_argument("--out", metavar="PRED.csv")
            q.add_argument("--schedule", action="append", metavar="SCHEDULE", help="tissue, multipower: predict "
                           "the loss curve of this schedule (length: total_steps=T in it, or --steps T)")
            q.add_argument("--steps", type=int, metavar="T", help="with --schedule: the run's length in steps")
            q.add_argument("--points", type=int, metavar="K", help="with --schedule: steps along the curve (200)")
            q.add_argument("--schedules", metavar="FILE", help="with --data: the runs' schedules (as in fit)")
        else:
            q.add_argument("--flops", type=float, metavar="C", help="FLOP budget: compute-optimal N, D, loss")
            q.add_argument("--loss", type=float, metavar="L", help="target loss: inference-aware sizing (Sardana et al. 2024)")
            q.add_argument("--inference-tokens", type=float, metavar="T", help="tokens the model will serve (with --loss)")
            q.add_argument("--level", type=float, help="confidence level (default: the fit's)")
            q.add_argument("--steps", type=int, metavar="T", help="tissue, multipower: step budget - best schedule "
                           "among families and best WSD decay fraction")
            q.add_argument("--peak", type=float, metavar="LR", help="with --steps: peak learning rate (default: the fit's)")
            q.add_argument("--warmup", type=float, metavar="W", help="with --steps: warmup steps, or a fraction < 1")
            q.add_argument("--floor", action="append", metavar="LR | DOMAIN=W", help="with --steps: final rate of decays "
                           "(default: the fit's); with --mixture: a domain's least weight (repeat per domain)")
            q.add_argument("--families", metavar="F,F", help="with --steps: constant,cosine,linear,multistep,wsd (default all)")
            q.add_argument("--decay-fractions", metavar="F,F", help="with --steps: WSD decay fractions to scan")
            q.add_argument("--schedule", action="append", metavar="SCHEDULE", help="a schedule to rank (repeat); "
                           "with total_steps=T in it, at its own length")
            q.add_argument("--mixture", action="store_true", help="mixture laws: the training mixture minimising the "
                           "predicted target loss at --params N --tokens D (or --flops C)")
            q.add_argument("--params", type=float, metavar="N", help="with --mixture or --qat: model size")
            q.add_argument("--tokens", type=float, metavar="D", help="with --mixture or --qat: training tokens")
            q.add_argument("--qat", action="store_true", help="qat laws: the optimal QAT fraction at --params N --tokens D "
                           "--bits B, or the bit width, N, D and fraction for --memory M (bytes of weights) and --flops C")
            q.add_argument("--bits", metavar="B", help="with --qat: the bit width; with --memory, the candidates "
                           "(default 1,2,...,8)")
            q.add_argument("--memory", type=float, metavar="M", help="with --qat: the weight-memory budget in bytes (N b / 8)")
            q.add_argument("--cap", action="append", metavar="DOMAIN=W", help="with --mixture: a domain's largest weight")
            q.add_argument("--unique-tokens", action="append", metavar="DOMAIN=T", help="with --mixture: a domain's "
                           "unique tokens; its weight x D may not exceed --max-epochs x T")
            q.add_argument("--max-epochs", type=float, metavar="E", help="with --unique-tokens: passes allowed over a "
                           "domain's unique tokens (default 1)")

    g = sub.add_parser("plot", help="draw a fit over its data (the law family's figure) to an image file")
    g.add_argument("fit", help="FIT.json from `scaling fit --out` (it keeps the fitted data)")
    g.add_argument("--out", required=True, metavar="FIG.png", help="image file (.png, .pdf, .svg)")
    g.add_argument("--kind", help="which figure (default: the law's first): fit, residuals, isoflops, extrapolation "
                   "(laws of N, D), curves, loss2loss, sigmoid, error, mixture, qat")
    g.add_argument("--data", metavar="RUNS", help="draw these runs instead of the fitted ones (a file or a folder)")
    _data_flags(g)
    g.add_argument("--schedules", metavar="FILE", help="tissue, multipower: the runs' schedules (default: the fit's)")
    g.add_argument("--schedule", action="append", metavar="RUN=SCHEDULE", help="tissue, multipower: one run's schedule")
    g.add_argument("--dpi", type=int, default=150)
    g.add_argument("--json", **json_flag)
    g.set_defaults(func=cmd_plot)

    l = sub.add_parser("laws", help="list the laws and the published coefficients")
    l.add_argument("--json", **json_flag)
    l.set_defaults(func=cmd_laws)

    lad = sub.add_parser("ladder", help="train a ladder of small models").add_subparsers(dest="ladder_command", required=True)
    r = lad.add_parser("run", help="train every unfinished run of a ladder spec (resumable)")
    r.add_argument("spec", help="ladder spec (.toml or .json)")
    r.add_argument("--out", required=True, metavar="DIR")
    r.add_argument("--workers", type=int, help="worker processes (default: one per core, at most 8)")
    r.add_argument("--json", **json_flag)
    r.set_defaults(func=cmd_ladder_run)
    s = lad.add_parser("status", help="status of each run of a ladder directory")
    s.add_argument("dir")
    s.add_argument("--json", **json_flag)
    s.set_defaults(func=cmd_ladder_status)

    d = sub.add_parser("demo", help="train a small ladder on the embedded corpus, fit, predict a held-out run, plan, report")
    d.add_argument("--quick", action="store_true", help="half the tokens at half the batch (about 2 min on 2 CPU cores; a "
                   "preview: its held-out error ranged -2.3 %% to +1.3 %% over three seeds)")
    d.add_argument("--out", default="demo-out", metavar="DIR", help="runs, figures and report (default: demo-out); reused runs are not retrained")
    d.add_argument("--workers", type=int, help="worker processes (default: one per core, at most 8)")
    d.add_argument("--seed", type=int, help="training seed of every run (default 0): the held-out error moves "
                   "by 1-2 points between seeds (README, Measured)")
    d.add_argument("--spec", help=argparse.SUPPRESS)
    d.add_argument("--json", **json_flag)
    d.set_defaults(func=cmd_demo)
    return p


SCIENTIFIC_NEGATIVE = re.compile(r"-(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def attach_negative_numbers(argv: list[str]) -> list[str]:
    """``--params -1e9`` -> ``--params=-1e9``: argparse (before Python 3.14) reads a negative number in
    scientific notation as an unknown flag, so the value is attached to the long option before it.
    The flag's own checks then judge the value (a negative N is refused there, by name)."""
    out: list[str] = []
    for token in argv:
        previous = out[-1] if out else ""
        if SCIENTIFIC_NEGATIVE.fullmatch(token) and previous.startswith("--") and "=" not in previous:
            out[-1] = f"{previous}={token}"
        else:
            out.append(token)
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(attach_negative_numbers(sys.argv[1:] if argv is None else list(argv)))
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = args.func(args)       # a command may end with its own code (a ladder whose runs failed: 1)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:             # stdout closed early (`scaling ... --json | head`): end quietly, as on SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())     # no second error at exit's flush
        return 141
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence: exit 1 with the reason
        traceback.print_exc(file=sys.stderr)
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        for message in dict.fromkeys(str(w.message) for w in caught or []):   # each once, in order
            print(f"warning: {message}", file=sys.stderr)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
