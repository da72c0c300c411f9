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

* ``dataset="train"``: mean training loss over the updates since the previous evaluation;
* ``dataset=<domain>``: mean loss on the fixed validation windows of each corpus domain;
* ``dataset="validation"``: those domain losses averaged with the training mixture's weights.

Columns: ``run, params, tokens, flops, step, lr, dataset, loss, mix.<domain>...`` plus
``status, params_total, width, depth, heads, context, batch_size, schedule, steps_total, seed``
(``lr_array(schedule, steps_total)`` gives the learning rate of every update of the run).
``params`` is the non-embedding count ``N`` (:func:`ladders.model.param_counts`); ``tokens``
``D = step * batch_size * context`` (predicted tokens seen); ``flops = 6 N D`` (Kaplan et al.
2020: forward + backward, attention and embeddings left out); ``lr`` is the rate of the update
that produced step ``step`` (``lr_array[step - 1]``); ``loss`` is in nats per token.

A checkpoint follows every evaluation; a restarted run loads it, deletes rows of later
evaluations and continues exactly (batches are a function of ``(seed, step)``).  A non-finite
loss stops the run with status ``diverged`` (rows before it are kept).  Compiled steps go to
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
from tqdm.auto import tqdm

from . import checkpoint, data, parallel, runlog
from .config import RunConfig, as_run_config
from .corpus import cache_root, load_corpus
from .model import ModelConfig, init_params, loss_fn, param_counts
from .schedules import lr_array, schedule_to_string


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


@functools.lru_cache(maxsize=32)
def make_train_steps(model: ModelConfig, clip: float, b1: float, b2: float, eps: float, weight_decay: float):
    """Jitted ``(params, opt_state, batches (k, B, T+1), lrs (k,), active (k,)) -> (params, opt_state, losses (k,))``.

    Update ``j`` of the chunk runs only where ``active[j]``: a shorter last chunk is padded to
    the same length ``k`` (skipped updates cost nothing, ``lax.cond`` runs one branch), so every
    chunk of a run uses one compiled function.  Cached per model and optimizer settings.
    """
    optimizer = make_optimizer(clip, b1, b2, eps, weight_decay)

    def update(carry, batch, lr):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, model)
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
def make_eval(model: ModelConfig):
    """Jitted ``(params, windows (n, B, T+1)) -> mean loss`` over ``n`` batches."""
    @jax.jit
    def evaluate(params, batches):
        return jnp.mean(jax.lax.map(lambda b: loss_fn(params, b, model), batches))
    return evaluate


def eval_batches(corpus, config: RunConfig) -> dict:
    """Fixed validation windows per domain, shaped ``(n, batch_size, context + 1)``."""
    b = config.batch_size
    n = math.ceil(config.eval_windows / b)
    return {d: data.validation_windows(corpus, d, n * b, config.model.context).reshape(n, b, -1)
            for d in corpus.domains}


def make_rows(config: RunConfig, counts: dict, mixture: dict, step: int, lr: float,
              losses: dict, status: str) -> pd.DataFrame:
    """Rows of the runs table for one evaluation (columns in the module docstring)."""
    n, tokens = counts["non_embedding"], step * config.tokens_per_step
    base = {
        "run": config.run, "params": n, "tokens": tokens, "flops": 6.0 * n * tokens,
        "step": step, "lr": lr,
    }
    mix = {f"mix.{d}": w for d, w in mixture.items()}
    extra = {
        "status": status, "params_total": counts["total"], "width": config.model.width,
        "depth": config.model.depth, "heads": config.model.heads, "context": config.model.context,
        "batch_size": config.batch_size, "schedule": schedule_to_string(config.schedule),
        "steps_total": config.steps, "seed": config.seed,
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

    params = init_params(config.model, jax.random.key(config.seed))
    opt_state = optimizer.init(params)
    step = 0
    restored = checkpoint.load(run_dir, (params, opt_state))
    if restored is not None:
        (params, opt_state), meta = restored
        step = int(meta["step"])
    runlog.drop_rows_after(run_dir, step)
    params, opt_state = parallel.replicate((params, opt_state), mesh)

    train_steps = make_train_steps(config.model, config.clip, config.b1, config.b2, config.eps, config.weight_decay)
    evaluate = make_eval(config.model)
    valid = {d: parallel.shard_batch(w, mesh, 1) for d, w in eval_batches(corpus, config).items()}
    info = {"steps": steps, "params": counts["non_embedding"], "params_total": counts["total"],
            "tokens": steps * config.tokens_per_step}

    bar = tqdm(total=steps, initial=step, desc=config.run, disable=not progress, unit="step", leave=False)
    train_sum, train_count, started = 0.0, 0, time.time()
    try:
        while step < steps:
            next_eval = min(steps, (step // config.eval_every + 1) * config.eval_every)
            n = min(config.steps_per_dispatch, next_eval - step)
            params, opt_state, losses = dispatch(train_steps, params, opt_state, corpus, mixture, config,
                                                 lrs, step, n, mesh)
            bad = np.flatnonzero(~np.isfinite(losses))
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
                results = {"train": train_sum / train_count}
                for domain, windows in valid.items():
                    results[domain] = float(evaluate(params, windows))
                results["validation"] = sum(mixture[d] * results[d] for d in corpus.domains)
                if not all(math.isfinite(v) for v in results.values()):
                    status = dict(status="diverged", step=step, loss=float("nan"), **info)
                    runlog.write_status(run_dir, **status)
                    return status
                state = "done" if step == steps else "running"
                runlog.write_rows(run_dir, step, make_rows(config, counts, mixture, step, float(lrs[step - 1]),
                                                            results, state))
                if state == "running":
                    checkpoint.save(run_dir, (params, opt_state), {"step": step})
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
        ckpt.unlink()  # a finished run needs no checkpoint
    return runlog.read_status(run_dir)
