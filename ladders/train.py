"""Train one run: AdamW on a schedule, evaluation, rows to parquet, checkpoints, divergence.

The update (one optimizer step on a batch ``x`` of windows, learning rate ``lr_t`` from
:func:`ladders.schedules.lr_array`):

    g   = clip_by_global_norm(grad L(theta; x), clip)
    m,v = Adam moments of g (b1, b2, eps; Kingma & Ba 2015)
    theta <- theta - lr_t * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)
                                      (AdamW, Loshchilov & Hutter 2019; decay on matrices only)

``steps_per_dispatch`` updates are fused into one jitted ``lax.scan`` (fewer Python dispatches:
+15 % on a 2-core CPU), with the parameter and optimizer buffers donated.  Evaluations happen
every ``eval_every`` updates and after the last; each writes rows of the runs table:

* ``dataset="train"``: mean training loss over the updates since the previous evaluation (for
  a forked run's first evaluation: since the fork);
* ``dataset=<domain>``: mean loss on the fixed validation windows of each corpus domain;
* ``dataset="validation"``: those domain losses averaged with the training mixture's weights.

Columns: ``run, params, tokens, flops, step, lr, dataset, loss, mix.<domain>...`` plus
``status, params_total, width, depth, heads, context, batch_size, schedule, steps_total, seed``
(``lr_array(schedule, steps_total)`` gives the learning rate of every update of the run).
``params`` is the non-embedding count ``N`` (:func:`ladders.model.param_counts`); ``tokens``
``D = step * batch_size * context`` (predicted tokens seen); ``flops = 6 N D`` (Kaplan et al.
2020: forward + backward, attention and embeddings left out); ``lr`` is the rate of the update
that produced step ``step`` (``lr_array[step - 1]``); ``loss`` is in nats per token.

Quantization-aware training (``config.quant``, :mod:`ladders.quant`): at update
``qat_start = steps - round(f * steps)`` the FP state becomes a QAT state (per-channel scales
initialised from the weights, Adam state of the weights kept), and from then on every update
trains the fake-quantized model and every evaluation measures it.  Rows also carry ``bits``
(the weight bit width of the evaluated model: ``16`` for a full-precision model, i.e. FP runs
and FP phases) and ``qat_fraction`` (the share of the row's tokens trained quantization-aware,
``(step - qat_start) / step``; 0 for FP rows), plus ``qat_fraction_target`` (the run's ``f``),
``embed_bits``, ``qat_pipeline``, ``run_kind`` (``fp``, ``qat`` or ``trunk``) and ``parent``.

A run with a ``parent`` starts from the checkpoint its parent kept at the fork step (its rows
begin after it); a run with ``forks`` evaluates and keeps a checkpoint at each of them.

A checkpoint follows every evaluation; a restarted run loads it, deletes rows of later
evaluations and continues exactly (batches are a function of ``(seed, step)``).  A non-finite
loss, or one above twice the uniform guess's ln(vocab) (a finite blow-up: 686 nats for 256 bytes), stops
the run with status ``diverged`` (rows before it are kept).  Compiled steps go to
JAX's persistent compilation cache under ``$SCALING_CACHE/jax``.

Reproducibility: on CPU, runs are bitwise reproducible and resume exactly.  On GPU, XLA's
scatter-add (the embedding gradient) uses atomics and is not deterministic, so importing this
module adds ``--xla_gpu_deterministic_ops=true`` to ``XLA_FLAGS`` unless that flag is already
set (it takes effect if JAX has not yet started its GPU backend; set
``--xla_gpu_deterministic_ops=false`` yourself to trade exactness for speed).
"""
from __future__ import annotations

import functools
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from . import checkpoint, data, parallel, quant, runlog
from .config import RunConfig, as_run_config
from .corpus import cache_root, load_corpus
from .model import ModelConfig, init_params, loss_fn, param_counts
from .progress import progress_bar
from .schedules import lr_array, schedule_to_string

DIVERGED_OVER_UNIFORM = 2.0    # a loss above this many times ln(vocab), the uniform guess's, has diverged


def request_deterministic_gpu() -> None:
    """Add ``--xla_gpu_deterministic_ops=true`` to ``XLA_FLAGS`` unless the flag is set already."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_gpu_deterministic_ops=true").strip()


request_deterministic_gpu()


def enable_compilation_cache(directory=None) -> None:
    """Use JAX's persistent compilation cache (default ``$SCALING_CACHE/jax``)."""
    path = str(directory or cache_root() / "jax")
    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def make_optimizer(clip: float, b1: float, b2: float, eps: float, weight_decay: float):
    """Clipping + Adam moments + decoupled weight decay; the caller multiplies by ``-lr``."""
    decay_mask = lambda params: jax.tree_util.tree_map(lambda x: x.ndim >= 2, params)
    return optax.chain(
        optax.clip_by_global_norm(clip),
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        optax.add_decayed_weights(weight_decay, mask=decay_mask),
    )


def optimizer_for(config: RunConfig):
    return make_optimizer(config.clip, config.b1, config.b2, config.eps, config.weight_decay)


def quant_config(config: RunConfig) -> quant.QuantConfig | None:
    """The run's :class:`ladders.quant.QuantConfig`, or None for an FP run."""
    q = config.quant
    return None if q is None else quant.QuantConfig(q["bits"], q["embed_bits"])


def model_loss(model: ModelConfig, qc: quant.QuantConfig | None):
    """``(params, batch) -> loss``: of the model itself, or (``qc``) of its fake-quantized weights
    from a QAT state ``{"model", "scales"}``."""
    if qc is None:
        return lambda params, batch: loss_fn(params, batch, model)
    return lambda state, batch: loss_fn(quant.quantize_params(state, qc), batch, model)


@functools.lru_cache(maxsize=32)
def make_train_steps(model: ModelConfig, clip: float, b1: float, b2: float, eps: float, weight_decay: float,
                     qc: quant.QuantConfig | None = None):
    """Jitted ``(params, opt_state, batches (k, B, T+1), lrs (k,), active (k,)) -> (params, opt_state, losses (k,))``.

    Update ``j`` of the chunk runs only where ``active[j]``: a shorter last chunk is padded to
    the same length ``k`` (skipped updates cost nothing, ``lax.cond`` runs one branch), so every
    chunk of a run uses one compiled function.  With ``qc`` the parameters are a QAT state and
    the loss is that of the fake-quantized model.  Cached per model, optimizer and quantization.
    """
    optimizer = make_optimizer(clip, b1, b2, eps, weight_decay)
    objective = model_loss(model, qc)

    def update(carry, batch, lr):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(objective)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
        return (params, opt_state), loss

    def one_step(carry, inputs):
        batch, lr, active = inputs
        skip = lambda carry, batch, lr: (carry, jnp.zeros((), jnp.float32))
        return jax.lax.cond(active, update, skip, carry, batch, lr)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_steps(params, opt_state, batches, lrs, active):
        (params, opt_state), losses = jax.lax.scan(one_step, (params, opt_state), (batches, lrs, active))
        return params, opt_state, losses

    return train_steps


@functools.lru_cache(maxsize=32)
def make_eval(model: ModelConfig, qc: quant.QuantConfig | None = None):
    """Jitted ``(params, windows (n, B, T+1)) -> mean loss`` over ``n`` batches (of the quantized
    model with ``qc``; the fake-quantized weights are the quantized values)."""
    objective = model_loss(model, qc)

    @jax.jit
    def evaluate(params, batches):
        return jnp.mean(jax.lax.map(lambda b: objective(params, b), batches))
    return evaluate


def eval_batches(corpus, config: RunConfig) -> dict:
    """Fixed validation windows per domain, shaped ``(n, batch_size, context + 1)``."""
    b = config.batch_size
    n = math.ceil(config.eval_windows / b)
    return {d: data.validation_windows(corpus, d, n * b, config.model.context).reshape(n, b, -1)
            for d in corpus.domains}


def make_rows(config: RunConfig, counts: dict, mixture: dict, step: int, lr: float,
              losses: dict, status: str, qat: bool = False) -> pd.DataFrame:
    """Rows of the runs table for one evaluation (columns in the module docstring); ``qat``: the
    evaluated model is the quantized one."""
    n, tokens = counts["non_embedding"], step * config.tokens_per_step
    q = config.quant or {}
    base = {
        "run": config.run, "params": n, "tokens": tokens, "flops": 6.0 * n * tokens,
        "step": step, "lr": lr, "bits": q["bits"] if qat else quant.FULL_PRECISION,
        "qat_fraction": (step - config.qat_start) / step if qat else 0.0,
    }
    mix = {f"mix.{d}": w for d, w in mixture.items()}
    extra = {
        "status": status, "params_total": counts["total"], "width": config.model.width,
        "depth": config.model.depth, "heads": config.model.heads, "context": config.model.context,
        "batch_size": config.batch_size, "schedule": schedule_to_string(config.schedule),
        "steps_total": config.steps, "seed": config.seed,
        "qat_fraction_target": q.get("fraction", 0.0), "embed_bits": q["embed_bits"] if qat else quant.FULL_PRECISION,
        "qat_pipeline": q.get("pipeline", ""), "run_kind": "qat" if q else ("trunk" if config.trunk else "fp"),
        "parent": config.parent["run"] if config.parent else "",
    }
    rows = [{**base, "dataset": name, "loss": float(loss), **mix, **extra} for name, loss in losses.items()]
    return pd.DataFrame(rows)


def dispatch(train_steps, params, opt_state, corpus, mixture, config: RunConfig, lrs, step: int, n: int, mesh):
    """Run updates ``step .. step + n - 1`` (``n <= steps_per_dispatch``) as one padded chunk."""
    k = config.steps_per_dispatch
    batches = data.train_batches(corpus, mixture, step, n, config.seed, config.batch_size, config.model.context)
    chunk_lrs = np.zeros(k, np.float32)
    chunk_lrs[:n] = lrs[step:step + n]  # float64 -> float32
    if n < k:
        batches = np.concatenate([batches, np.zeros((k - n,) + batches.shape[1:], batches.dtype)])
    params, opt_state, losses = train_steps(params, opt_state, parallel.shard_batch(batches, mesh, 1),
                                            jnp.asarray(chunk_lrs), jnp.arange(k) < n)
    return params, opt_state, np.asarray(losses, dtype=np.float64)[:n]


def train_run(config, out_dir, progress: bool = True, corpus=None, stop_at_step: int | None = None) -> dict:
    """Train (or resume, or skip if finished) one run under ``out_dir/<run>``; return its status.

    ``config`` is a :class:`RunConfig` or its dict.  ``corpus`` overrides ``config.corpus`` (an
    already loaded :class:`ladders.corpus.Corpus`).  ``stop_at_step`` stops after the first
    evaluation at or past that step, as if killed there (for tests).  Returns the status dict
    (``status`` is ``done``, ``diverged`` or, after ``stop_at_step``, ``running``).
    """
    config = as_run_config(config)
    run_dir = Path(out_dir) / config.run
    runlog.write_config(run_dir, config.to_dict())
    with runlog.exclusive(run_dir) as owned:
        if not owned:  # another process is training this run right now: leave it alone
            return dict(runlog.read_status(run_dir) or {"status": "running", "step": 0}, busy=True)
        return _train(config, run_dir, progress, corpus, stop_at_step)


def _restore(config: RunConfig, run_dir: Path, params, opt_state, optimizer, qc):
    """``(params, opt_state, step, qat)`` from the run's own checkpoint, else from its parent's fork
    checkpoint, else the fresh state at step 0."""
    name = checkpoint.FILENAME
    meta = checkpoint.read_meta(run_dir)
    source = run_dir
    if meta is None and config.parent is not None:
        source, name = run_dir.parent / config.parent["run"], checkpoint.fork_name(config.parent["step"])
        meta = checkpoint.read_meta(source, name)
        if meta is None or meta.get("qat"):
            parent_status = (runlog.read_status(source) or {}).get("status", "not started")
            raise ValueError(f"run {config.run}: its parent run {config.parent['run']} has no FP checkpoint at step "
                             f"{config.parent['step']} ({source / name}; the parent is {parent_status}); "
                             "train the parent first")
    if meta is None:
        return params, opt_state, 0, False
    like = (params, opt_state)
    if meta.get("qat"):
        like = jax.eval_shape(lambda p, o: quant.start(p, o, qc, optimizer), params, opt_state)
    (params, opt_state), meta = checkpoint.load(source, like, name)
    return params, opt_state, int(meta["step"]), bool(meta.get("qat", False))


def eval_points(config: RunConfig) -> np.ndarray:
    """Sorted steps at which the run evaluates: multiples of ``eval_every``, its forks, the last step."""
    every = np.arange(config.eval_every, config.steps + 1, config.eval_every)
    return np.unique(np.concatenate([every, np.asarray(config.forks, dtype=int), [config.steps]]))


def _train(config: RunConfig, run_dir: Path, progress: bool, corpus, stop_at_step) -> dict:
    status = runlog.read_status(run_dir)
    if status and status["status"] in ("done", "diverged"):
        return status

    enable_compilation_cache()
    corpus = corpus if corpus is not None else load_corpus(config.corpus)
    if corpus.vocab > config.model.vocab:
        raise ValueError(f"run {config.run}: corpus vocabulary {corpus.vocab} exceeds model vocab {config.model.vocab}")
    mixture = data.normalize_mixture(config.mixture, corpus.domains)
    counts = param_counts(config.model)
    steps = config.steps
    lrs = lr_array(config.schedule, steps)  # float64, logged as is; float32 on the device
    optimizer = optimizer_for(config)
    mesh = parallel.data_mesh(config.batch_size)
    qc, qat_start = quant_config(config), config.qat_start

    params = init_params(config.model, jax.random.key(config.seed))
    params, opt_state, step, qat = _restore(config, run_dir, params, optimizer.init(params), optimizer, qc)
    runlog.drop_rows_after(run_dir, step)
    params, opt_state = parallel.replicate((params, opt_state), mesh)

    settings = (config.model, config.clip, config.b1, config.b2, config.eps, config.weight_decay)
    valid = {d: parallel.shard_batch(w, mesh, 1) for d, w in eval_batches(corpus, config).items()}
    info = {"steps": steps, "params": counts["non_embedding"], "params_total": counts["total"],
            "tokens": steps * config.tokens_per_step}
    points = eval_points(config)
    limit = DIVERGED_OVER_UNIFORM * math.log(config.model.vocab)

    bar = progress_bar(total=steps, initial=step, desc=config.run, disable=not progress, unit="step", leave=False)
    train_sum, train_count, started = 0.0, 0, time.time()
    try:
        while step < steps:
            if qc is not None and not qat and step >= qat_start:  # the QAT phase begins
                params, opt_state = parallel.replicate(quant.start(params, opt_state, qc, optimizer), mesh)
                qat = True
            next_eval = int(points[np.searchsorted(points, step, side="right")])
            n = min(config.steps_per_dispatch, next_eval - step)
            if qc is not None and not qat:
                n = min(n, qat_start - step)
            train_steps = make_train_steps(*settings, qc if qat else None)
            params, opt_state, losses = dispatch(train_steps, params, opt_state, corpus, mixture, config,
                                                 lrs, step, n, mesh)
            bad = np.flatnonzero(~(losses <= limit))       # NaN/inf, or far worse than guessing uniformly
            if len(bad):
                status = dict(status="diverged", step=step + int(bad[0]) + 1, loss=float(losses[bad[0]]), **info)
                runlog.write_status(run_dir, **status)
                return status
            step += n
            train_sum += float(losses.sum())
            train_count += n
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if step == next_eval:
                evaluate = make_eval(config.model, qc if qat else None)
                results = {"train": train_sum / train_count}
                for domain, windows in valid.items():
                    results[domain] = float(evaluate(params, windows))
                results["validation"] = sum(mixture[d] * results[d] for d in corpus.domains)
                if not all(v <= limit for v in results.values()):
                    status = dict(status="diverged", step=step, loss=float("nan"), **info)
                    runlog.write_status(run_dir, **status)
                    return status
                state = "done" if step == steps else "running"
                runlog.write_rows(run_dir, step, make_rows(config, counts, mixture, step, float(lrs[step - 1]),
                                                            results, state, qat))
                meta = {"step": step, "qat": qat}
                if step in config.forks:
                    checkpoint.save(run_dir, (params, opt_state), meta, checkpoint.fork_name(step))
                if state == "running":
                    checkpoint.save(run_dir, (params, opt_state), meta)
                status = dict(status=state, step=step, loss=results["validation"],
                              seconds=time.time() - started, **info)
                runlog.write_status(run_dir, **status)
                train_sum, train_count = 0.0, 0
                if stop_at_step is not None and step >= stop_at_step and state == "running":
                    return status
    finally:
        bar.close()
    ckpt = run_dir / checkpoint.FILENAME
    if ckpt.exists():
        ckpt.unlink()  # a finished run needs no checkpoint (its forks stay)
    return runlog.read_status(run_dir)
