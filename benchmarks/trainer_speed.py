"""Tokens/s of the ladder trainer's JAX step against a same-model PyTorch CPU reference, one run.

Model (DESIGN.md, issue 3): byte-level GPT, d_model 128, 4 layers, 4 heads, context 128, batch 16,
vocabulary 256.  The same math on both sides: token embedding, pre-norm blocks with RMSNorm
(float32), rotary queries/keys, causal softmax attention (float32 scores), relu^2 MLP (4x), tied
output head, mean cross-entropy; AdamW (b 0.9/0.95, eps 1e-8, decay 0.1 on matrices only) after
clipping the global gradient norm to 1.  Every contestant trains on one fixed batch.

Contestants (all on the CPU, all after warm-up / compilation):

* ``jax-trainer``: :func:`ladders.train.make_train_steps`, the step the trainer runs: ``--k``
  updates per dispatch in one ``lax.scan``, donated buffers, bf16 matmul inputs (the trainer's
  default ``compute_dtype``), synchronised after every dispatch as the train loop does.
* ``jax-trainer-fp32``: the same with ``compute_dtype="float32"``.
* with ``--qat B [B ...]``: ``jax-trainer-qatB``, the trainer's QAT step at ``B`` bits (weights
  fake-quantized with learned per-channel scales, embeddings at ``max(B, 4)``,
  :mod:`ladders.quant`); the ratio ``jax-trainer / jax-trainer-qatB`` is the QAT step's cost
  relative to the FP step (target <= 1.3).
* ``torch-eager-fp32`` / ``torch-eager-bf16``: the model written in PyTorch, one update per
  Python call, float32 or ``torch.autocast(bfloat16)`` (bf16 matmul inputs, as ours).  PyTorch
  runs with the intra-op thread count (1 .. cores) that a short probe finds fastest.
* ``torch-compile-fp32`` / ``-bf16``: the same with ``torch.compile`` (inductor) of the model.
  If it cannot compile here, the reason is printed instead of a number.
* with ``--ablations``: ``jax-naive`` (textbook ``jit(value_and_grad + optax.adamw)``, one update
  per dispatch, float32, tanh-GELU), ``jax-k1`` (our step, one update per dispatch) and
  ``jax-gelu`` (our step with tanh-GELU): what each of our choices buys.

Timing: ``--rounds`` rounds; in each, every contestant trains for ``--seconds / --rounds`` seconds,
so a change of machine load hits all of them alike.  Reported: the median tokens/s over rounds
(min-max), and each ratio as the median of the per-round ratios.  Achieved FLOP/s use Kaplan et
al. (2020)'s training count ``6 N_total + 6 L T d`` per token and are set against the machine's
matmul peak, measured in the same run with a large float32 matmul in JAX and in numpy (the bf16
matmul rates of JAX and, when present, PyTorch are printed too: XLA:CPU and PyTorch reach the
CPU's AMX units only through bf16 inputs).  Compile time is the first call (the first two for
PyTorch), with JAX's persistent cache and inductor's caches off.  The load average before and
after is printed: on a shared machine, read the ratios, not the absolute numbers.

Run:  ``python benchmarks/trainer_speed.py [--seconds 12] [--rounds 4] [--k 8] [--ablations] [--qat 2 4]``
(``pip install -e .[bench]`` for PyTorch, a CPU-only wheel is enough; without it only the JAX side
and the peaks are timed).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ladders import quant
from ladders.model import ModelConfig, init_params, loss_fn, param_counts
from ladders.train import make_optimizer, make_train_steps

# compile times from scratch on both sides: JAX's persistent cache is not enabled here, and
# inductor's on-disk caches are switched off (with them a second run "compiles" in under 1 s)
os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")

# --------------------------------------------------------------------------------------------
# accounting and the machine's peak


def flops_per_token(cfg: ModelConfig) -> float:
    """Kaplan et al. (2020) training FLOPs per token: ``6 N_total + 6 L T d`` (weights incl. the
    tied head matmul, plus attention scores and values, forward and backward)."""
    return 6 * param_counts(cfg)["total"] + 6 * cfg.depth * cfg.context * cfg.width


def matmul_rate(fn, n: int, seconds: float = 1.0) -> float:
    """FLOP/s of ``fn()`` (an n x n x n matmul that blocks), best of repeated 0.1 s windows."""
    fn()
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0, reps = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.1:
            fn()
            reps += 1
        best = max(best, reps * 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def measure_peaks(n: int = 2048) -> dict:
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((n, n), dtype=np.float32)
    b32 = rng.standard_normal((n, n), dtype=np.float32)
    mm = jax.jit(jnp.matmul)
    peaks = {}
    ja, jb = jnp.asarray(a32), jnp.asarray(b32)
    peaks["jax fp32"] = matmul_rate(lambda: mm(ja, jb).block_until_ready(), n)
    peaks["numpy fp32"] = matmul_rate(lambda: a32 @ b32, n)
    ha, hb = ja.astype(jnp.bfloat16), jb.astype(jnp.bfloat16)
    peaks["jax bf16"] = matmul_rate(lambda: mm(ha, hb).block_until_ready(), n)  # XLA:CPU upcasts to f32
    mixed = jax.jit(lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32))
    peaks["jax bf16->f32"] = matmul_rate(lambda: mixed(ha, hb).block_until_ready(), n)  # as the trainer
    try:
        import torch
    except ImportError:
        return peaks
    ta, tb = torch.from_numpy(a32), torch.from_numpy(b32)
    peaks["torch fp32"] = matmul_rate(lambda: ta @ tb, n)
    ta, tb = ta.bfloat16(), tb.bfloat16()
    peaks["torch bf16"] = matmul_rate(lambda: ta @ tb, n)
    return peaks


# --------------------------------------------------------------------------------------------
# contestants: .warmup() -> compile seconds; .run(seconds) -> tokens/s


class JaxTrainer:
    """The trainer's own step: ``k`` updates per dispatch, synchronised per dispatch (``qc``: the
    QAT step, from the state :func:`ladders.quant.start` makes)."""

    def __init__(self, cfg: ModelConfig, batch: int, k: int, qc: quant.QuantConfig | None = None):
        self.cfg, self.batch, self.k = cfg, batch, k
        self.step = make_train_steps(cfg, 1.0, 0.9, 0.95, 1e-8, 0.1, qc)
        optimizer = make_optimizer(1.0, 0.9, 0.95, 1e-8, 0.1)
        self.params = init_params(cfg, jax.random.key(0))
        self.opt_state = optimizer.init(self.params)
        if qc is not None:
            self.params, self.opt_state = quant.start(self.params, self.opt_state, qc, optimizer)
        tokens = np.random.default_rng(0).integers(0, cfg.vocab, (batch, cfg.context + 1))
        self.batches = jnp.asarray(np.broadcast_to(tokens, (k,) + tokens.shape), dtype=jnp.int32)
        self.lrs, self.active = jnp.full((k,), 1e-3, jnp.float32), jnp.ones((k,), bool)

    def _call(self):
        self.params, self.opt_state, losses = self.step(self.params, self.opt_state, self.batches,
                                                        self.lrs, self.active)
        losses.block_until_ready()

    def warmup(self) -> float:
        t0 = time.perf_counter()
        self._call()
        return time.perf_counter() - t0

    def run(self, seconds: float) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self._call()
            n += self.k
        return n * self.batch * self.cfg.context / (time.perf_counter() - t0)


class JaxNaive:
    """The textbook step: ``jit(value_and_grad + optax)``, one update per dispatch, no donation."""

    def __init__(self, cfg: ModelConfig, batch: int):
        self.cfg, self.batch = cfg, batch
        optimizer = optax.chain(optax.clip_by_global_norm(1.0),
                                optax.adamw(1e-3, b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1))

        @jax.jit
        def step(params, opt_state, tokens):
            loss, grads = jax.value_and_grad(loss_fn)(params, tokens, cfg)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        self.step = step
        self.params = init_params(cfg, jax.random.key(0))
        self.opt_state = optimizer.init(self.params)
        tokens = np.random.default_rng(0).integers(0, cfg.vocab, (batch, cfg.context + 1))
        self.tokens = jnp.asarray(tokens, dtype=jnp.int32)

    def _call(self):
        self.params, self.opt_state, loss = self.step(self.params, self.opt_state, self.tokens)
        loss.block_until_ready()

    warmup = JaxTrainer.warmup

    def run(self, seconds: float) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self._call()
            n += 1
        return n * self.batch * self.cfg.context / (time.perf_counter() - t0)


def torch_model(cfg: ModelConfig):
    """The same transformer as :mod:`ladders.model` in PyTorch (float32 weights)."""
    import torch
    import torch.nn.functional as F

    d, h, L, T, V = cfg.width, cfg.heads, cfg.depth, cfg.context, cfg.vocab
    hd = d // h

    def normal(*shape, std=0.02):
        return torch.nn.Parameter(torch.randn(*shape) * std)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = normal(V, d)
            self.blocks = torch.nn.ModuleList()
            for _ in range(L):
                blk = torch.nn.Module()
                blk.attn_norm, blk.mlp_norm = torch.nn.Parameter(torch.ones(d)), torch.nn.Parameter(torch.ones(d))
                blk.wqkv, blk.wo = normal(d, 3 * d), normal(d, d, std=0.02 / math.sqrt(2 * L))
                blk.w_in, blk.w_out = normal(d, 4 * d), normal(4 * d, d, std=0.02 / math.sqrt(2 * L))
                self.blocks.append(blk)
            self.final_norm = torch.nn.Parameter(torch.ones(d))
            inv = cfg.rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
            ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
            self.register_buffer("cos", ang.cos()[None, :, None, :])
            self.register_buffer("sin", ang.sin()[None, :, None, :])
            self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril())

        @staticmethod
        def norm(x, g):  # RMSNorm in float32, returned in x's dtype
            x32 = x.float()
            return (g * x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype)

        def rot(self, x):
            x1, x2 = x.chunk(2, dim=-1)
            cos, sin = self.cos.to(x.dtype), self.sin.to(x.dtype)
            return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

        def forward(self, tokens):
            b, t = tokens.shape
            x = self.embed[tokens]
            for blk in self.blocks:
                q, k, v = (self.norm(x, blk.attn_norm) @ blk.wqkv).split(d, dim=-1)
                q, k = self.rot(q.reshape(b, t, h, hd)), self.rot(k.reshape(b, t, h, hd))
                scores = torch.einsum("bqhc,bkhc->bhqk", q, k).float() / math.sqrt(hd)
                w = scores.masked_fill(~self.mask, torch.finfo(torch.float32).min).softmax(-1).to(v.dtype)
                x = x + torch.einsum("bhqk,bkhc->bqhc", w, v.reshape(b, t, h, hd)).reshape(b, t, d) @ blk.wo
                x = x + F.relu(self.norm(x, blk.mlp_norm) @ blk.w_in).square() @ blk.w_out
            return (self.norm(x, self.final_norm) @ self.embed.T).float()

    return Model()


class TorchStep:
    """One PyTorch update per Python call: forward, cross-entropy, backward, clip, AdamW."""

    def __init__(self, cfg: ModelConfig, batch: int, dtype: str, compiled: bool):
        import torch
        import torch.nn.functional as F

        torch.manual_seed(0)
        self.cfg, self.batch = cfg, batch
        model = torch_model(cfg)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
        fwd = torch.compile(model) if compiled else model
        tokens = torch.from_numpy(np.random.default_rng(0).integers(0, cfg.vocab, (batch, cfg.context + 1)))
        autocast = dtype == "bfloat16"

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = fwd(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), tokens[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss

        self.step = step

    def warmup(self) -> float:
        t0 = time.perf_counter()
        self.step()
        self.step()  # torch.compile may recompile on the second call; keep it out of the timing
        return time.perf_counter() - t0

    def run(self, seconds: float) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self.step()
            n += 1
        return n * self.batch * self.cfg.context / (time.perf_counter() - t0)


def best_torch_threads(cfg: ModelConfig, batch: int) -> tuple[int, dict]:
    """The intra-op thread count (1 .. cores) at which the eager fp32 step is fastest."""
    import torch

    rates = {}
    for threads in range(1, (os.cpu_count() or 1) + 1):
        torch.set_num_threads(threads)
        step = TorchStep(cfg, batch, "float32", compiled=False)
        step.warmup()
        rates[threads] = step.run(1.5)
    best = max(rates, key=rates.get)
    torch.set_num_threads(best)
    return best, rates


# --------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="timed seconds per contestant, all rounds together")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--k", type=int, default=8, help="updates per dispatch of the JAX trainer step")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--no-torch", action="store_true", help="time only the JAX side")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--ablations", action="store_true", help="also time jax-naive, jax-k1 and jax-gelu")
    ap.add_argument("--qat", type=int, nargs="*", default=[], metavar="B",
                    help="also time the QAT step at these bit widths (embeddings at max(B, 4))")
    args = ap.parse_args(argv)

    ours = ModelConfig(width=args.width, depth=args.depth, heads=args.heads, context=args.context, vocab=256,
                       activation="relu2", compute_dtype="bfloat16")
    fp32 = replace(ours, compute_dtype="float32")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at start; "
          f"jax {jax.__version__} on {jax.devices()}")
    print(f"model: width {ours.width}, depth {ours.depth}, heads {ours.heads}, context {ours.context}, "
          f"vocab 256, batch {args.batch}; {param_counts(ours)['total']:,} parameters, "
          f"{flops_per_token(ours) / 1e6:.2f} MFLOP/token (6 N_total + 6 L T d)")

    peaks = measure_peaks()
    peak = max(peaks["jax fp32"], peaks["numpy fp32"])
    print("matmul 2048^3: " + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in peaks.items())
          + f" GFLOP/s  -> fp32 peak {peak / 1e9:.0f} GFLOP/s")

    contestants: dict[str, object] = {}
    configs: dict[str, ModelConfig] = {}
    notes: list[str] = []

    def add(name, cfg, make):
        try:
            contestants[name] = make()
            configs[name] = cfg
        except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
            notes.append(f"{name}: not timed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}")

    add("jax-trainer", ours, lambda: JaxTrainer(ours, args.batch, args.k))
    add("jax-trainer-fp32", fp32, lambda: JaxTrainer(fp32, args.batch, args.k))
    for b in args.qat:
        add(f"jax-trainer-qat{b}", ours,
            lambda b=b: JaxTrainer(ours, args.batch, args.k, quant.QuantConfig(b, quant.default_embed_bits(b))))
    if args.ablations:
        gelu32 = replace(fp32, activation="gelu")
        add("jax-naive", gelu32, lambda: JaxNaive(gelu32, args.batch))
        add("jax-k1", ours, lambda: JaxTrainer(ours, args.batch, 1))
        add("jax-gelu", replace(ours, activation="gelu"),
            lambda: JaxTrainer(replace(ours, activation="gelu"), args.batch, args.k))
    torch_threads = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            notes.append("PyTorch is not installed (pip install -e .[bench]): no torch reference")
        else:
            torch_threads, thread_rates = best_torch_threads(ours, args.batch)
            print(f"torch {torch.__version__}: eager fp32 probe " +
                  ", ".join(f"{t} thread{'s' * (t > 1)} {r:.0f} tokens/s" for t, r in thread_rates.items())
                  + f" -> {torch_threads} intra-op thread(s)")
            for dtype, tag in (("float32", "fp32"), ("bfloat16", "bf16")):
                cfg = ours if dtype == "bfloat16" else fp32
                add(f"torch-eager-{tag}", cfg, lambda d=dtype: TorchStep(ours, args.batch, d, compiled=False))
            if not args.no_compile:
                for dtype, tag in (("float32", "fp32"), ("bfloat16", "bf16")):
                    cfg = ours if dtype == "bfloat16" else fp32
                    add(f"torch-compile-{tag}", cfg, lambda d=dtype: TorchStep(ours, args.batch, d, compiled=True))

    compile_s = {}
    for name in list(contestants):
        try:
            compile_s[name] = contestants[name].warmup()
        except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a working C++ toolchain
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            notes.append(f"{name}: failed to compile/run here: {type(exc).__name__}: {first}")
            del contestants[name]

    rates = {name: [] for name in contestants}
    per_round = args.seconds / args.rounds
    for _ in range(args.rounds):
        for name, c in contestants.items():
            rates[name].append(c.run(per_round))
    load_end = os.getloadavg()[0]

    print(f"\n{'contestant':20s} {'tokens/s':>9s} {'(min-max)':>15s} {'GFLOP/s':>8s} {'% fp32 peak':>11s} {'compile s':>9s}")
    for name, rs in rates.items():
        med = statistics.median(rs)
        gf = med * flops_per_token(configs[name]) / 1e9
        print(f"{name:20s} {med:9.0f} {f'({min(rs):.0f}-{max(rs):.0f})':>15s} {gf:8.1f} "
              f"{100 * gf * 1e9 / peak:10.0f}% {compile_s[name]:9.1f}")

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    print()
    for ref in ("torch-eager-fp32", "torch-eager-bf16", "torch-compile-fp32", "torch-compile-bf16", "jax-naive"):
        if ref in rates and "jax-trainer" in rates:
            extra = f";  jax-trainer-fp32 / {ref} = {ratio('jax-trainer-fp32', ref):.2f}" if "jax-trainer-fp32" in rates else ""
            print(f"jax-trainer / {ref} = {ratio('jax-trainer', ref):.2f}{extra}")
    for b in args.qat:
        if f"jax-trainer-qat{b}" in rates and "jax-trainer" in rates:
            print(f"jax-trainer / jax-trainer-qat{b} = {ratio('jax-trainer', f'jax-trainer-qat{b}'):.3f}"
                  f"  (the {b}-bit QAT step's time over the FP step's; target <= 1.3)")
    if torch_threads is not None:
        print(f"(torch with {torch_threads} intra-op thread(s); ratios are medians of per-round ratios over "
              f"{args.rounds} rounds)")
    for note in notes:
        print("note: " + note)
    print(f"load average (1 min): {load_end:.2f} at the end, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
