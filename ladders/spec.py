"""Ladder specs: a TOML (or JSON) file of sizes x token budgets x schedules x mixtures (x seeds) -> runs.

Example (every table but ``sizes`` and ``budget`` is optional)::

    name = "tiny"
    seeds = [0]                       # or seed = 0

    sizes = [                         # model shapes; width must divide by heads
      {width = 32, depth = 2, heads = 2},
      {width = 48, depth = 2, heads = 2},
    ]

    [model]                           # ModelConfig fields shared by every size
    context = 64
    compute_dtype = "bfloat16"        # or "float32"

    [budget]                          # exactly one of the two keys
    tokens_per_param = [4, 8, 16]     # D = k * N, N = non-embedding parameters
    # tokens = [1e6, 4e6]             # absolute token counts

    [train]                           # RunConfig fields, and lr_base_width
    batch_size = 16
    # lr_base_width = 64              # the schedules' rates are those of width 64; width w trains at
                                      #   64 / w times them (module docstring)
    evals = 8                         # evaluations per run (or eval_every = <steps>)
    eval_windows = 64
    steps_per_dispatch = 8

    [[schedules]]                     # ladders.schedules dicts (default: cosine 3e-3 -> 3e-4)
    kind = "cosine"
    peak = 3e-3
    warmup = 0.05
    floor = 3e-4

    [data]                            # corpus = "default" (code, prose, comments), or
    corpus = "default"                # [data.text] domain = ["a.txt", ...], or
                                      # [data.arrays.<domain>] train = "x.bin", validation = "y.bin"
                                      #   with data.vocab = V (and data.dtype = "uint16")
    [[mixtures]]                      # domain weights (normalized to sum 1; default: uniform)
    code = 0.5
    prose = 0.3
    comments = 0.2

Expansion order is sizes, then budgets, then schedules, then mixtures, then seeds.  Run ids are
stable and readable: ``w32-d2-h2-t20k-cosine-<hash>``, where ``<hash>`` is
:meth:`ladders.config.RunConfig.fingerprint` (a hash of the whole config), so editing the spec
(adding sizes, say) keeps the ids, and the finished runs, of unchanged entries.
``evals = k`` sets ``eval_every`` to ``ceil(steps / k)`` rounded up to a multiple of
``steps_per_dispatch`` (so every dispatch has the same compiled length).

``lr_base_width = w0`` scales every schedule's absolute rates (peak, floor) of a model of width
``w`` by ``w0 / w``: the optimal Adam learning rate falls with width, and a ladder at one fixed
rate trains its small models too cautiously or its large ones too hard, which bends the fitted
size exponent (measured on the embedded corpus: README, "Measured", and
:func:`ladders.presets.demo_spec`).  It is muP's rule for
Adam on hidden matrices (learning rate proportional to 1 / fan-in; Yang et al. 2022, "Tensor
Programs V", Table 3), applied to every parameter of the model.

A size may carry its own budget (``{width = 8, depth = 1, heads = 1, tokens_per_param = [5000]}``),
which replaces ``[budget]`` for it (``[budget]`` may then be left out): a sparse design of
(size, budget) cells instead of the full product.

A ``[qat]`` table adds quantization-aware training (:mod:`ladders.branches`; the schedules
must be ``wsd``)::

    [qat]
    bits = [2, 4, 6]                  # weight bit widths of the QAT runs (1..8)
    qat_fraction = [0.1, 0.3, 0.5]    # share of the updates (the last ones) trained QAT
    qat_pipeline = ["classic", "fused"]
    embed_min_bits = 4                # embeddings / head at max(bits, 4); 16 keeps them FP
    qat_peak = 3e-3                   # classic: the QAT re-warmup's peak (default: the schedule's)
    qat_warmup = 0.1                  # classic: its warmup, a fraction of the QAT updates (or updates)
    share_trunks = true               # train each FP trunk once and fork it

Each cell (size x budget x schedule x mixture x seed) then has an FP reference run, a QAT run per
(pipeline, fraction, bits), the classic pipeline's FP runs of ``(1 - f)`` of the updates, and
shared constant-LR trunks they start from.

Many mixtures (a mixture ladder) come from a ``[mixtures]`` table of generators instead of the
``[[mixtures]]`` list: ``random = {count = 24, seed = 0, alpha = 1.0}`` (Dirichlet samples),
``lattice = 4`` (every mixture with weights in multiples of 1/4), ``uniform = true``,
``vertices = true``, ``include = [{code = 0.6, prose = 0.4}]`` (see :mod:`ladders.mixtures`).
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import branches, tokenizer
from .config import RunConfig, tokens_label
from .corpus import DEFAULT_DOMAINS
from .data import normalize_mixture
from .mixtures import MixtureSpecError, generate_mixtures
from .model import ModelConfig, param_counts
from .schedules import parse_schedule, scale_rates, schedule_to_dict, warmup_steps

TOP_KEYS = {"name", "seed", "seeds", "sizes", "model", "budget", "train", "schedules", "data", "mixtures", "qat"}
SIZE_KEYS = {"width", "depth", "heads"}
BUDGET_KEYS = {"tokens_per_param", "tokens"}
TRAIN_KEYS = {"batch_size", "evals", "eval_every", "eval_windows", "steps_per_dispatch",
              "weight_decay", "clip", "b1", "b2", "eps", "lr_base_width"}
DATA_KEYS = {"corpus", "text", "arrays", "vocab", "dtype", "validation_fraction"}
DEFAULT_SCHEDULE = {"kind": "cosine", "peak": 3e-3, "warmup": 0.05, "floor": 3e-4}


class SpecError(ValueError):
    """A ladder spec that cannot be expanded; the message names the offending entry."""


def _check_keys(where: str, table, allowed: set) -> dict:
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return table


@dataclass
class LadderSpec:
    """A parsed, validated ladder spec; :meth:`runs` expands it, :meth:`make_run` adds one run."""
    sizes: list
    budget: dict
    name: str = "ladder"
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    schedules: list = field(default_factory=lambda: [dict(DEFAULT_SCHEDULE)])
    data: dict = field(default_factory=lambda: {"corpus": "default"})
    mixtures: list = field(default_factory=list)
    seeds: list = field(default_factory=lambda: [0])
    qat: dict = field(default_factory=dict)

    # -- the corpus --------------------------------------------------------------------------
    def corpus_spec(self):
        """The ``corpus`` value of each run (see :func:`ladders.corpus.load_corpus`)."""
        if "text" in self.data:
            return {"text": self.data["text"], "validation_fraction": self.data.get("validation_fraction", 0.05)}
        if "arrays" in self.data:
            return {"arrays": self.data["arrays"], "vocab": self.data["vocab"], "dtype": self.data.get("dtype", "uint16")}
        return "default"

    def domains(self) -> list:
        if "text" in self.data:
            return list(self.data["text"])
        if "arrays" in self.data:
            return list(self.data["arrays"])
        return list(DEFAULT_DOMAINS)

    # -- expansion ---------------------------------------------------------------------------
    def model_config(self, width: int, depth: int, heads: int) -> ModelConfig:
        model = dict(self.model)
        corpus_vocab = int(self.data["vocab"]) if "arrays" in self.data else tokenizer.VOCAB_SIZE
        model.setdefault("vocab", corpus_vocab)
        config = ModelConfig(width=width, depth=depth, heads=heads, **model)
        if config.vocab < corpus_vocab:         # found here, not when the run starts training
            raise SpecError(f"[model] vocab = {config.vocab} is smaller than the corpus's vocabulary ({corpus_vocab}: "
                            f"{'data.vocab' if 'arrays' in self.data else 'bytes'}); leave vocab out to use the corpus's")
        return config

    def make_run(self, width: int, depth: int, heads: int, tokens: int | None = None,
                 tokens_per_param: float | None = None, schedule=None, mixture: dict | None = None,
                 seed: int | None = None, run: str | None = None, quant: dict | None = None) -> RunConfig:
        """One run with this spec's defaults, e.g. a held-out larger model for a prediction check.

        Exactly one of ``tokens`` / ``tokens_per_param``; ``schedule``, ``mixture`` and ``seed``
        default to the spec's first; ``run`` defaults to the stable id described above;
        ``quant`` makes it a QAT run (:class:`ladders.config.RunConfig`).
        """
        try:
            model = self.model_config(width, depth, heads)
        except (TypeError, ValueError) as e:
            raise SpecError(f"size {{width={width}, depth={depth}, heads={heads}}}: {e}") from None
        if (tokens is None) == (tokens_per_param is None):
            raise SpecError("give exactly one of tokens= and tokens_per_param=")
        if tokens is None:
            tokens = tokens_per_param * param_counts(model)["non_embedding"]
        if not (isinstance(tokens, (int, float)) and math.isfinite(tokens) and tokens > 0):
            raise SpecError(f"token budget must be a positive number, got {tokens!r}")
        tokens = int(round(tokens))
        schedule = schedule_to_dict(parse_schedule(schedule if schedule is not None else self.schedules[0]))
        train = dict(self.train)
        base_width = train.pop("lr_base_width", None)
        if base_width is not None:
            schedule = scale_rates(schedule, base_width / width)
        mixture = normalize_mixture(mixture if mixture is not None else (self.mixtures[0] if self.mixtures else
                                                                         {d: 1.0 for d in self.domains()}),
                                    self.domains())
        evals = train.pop("evals", None)
        try:
            config = RunConfig(run="pending", model=model, tokens=tokens, schedule=schedule, mixture=mixture,
                               corpus=self.corpus_spec(), seed=int(seed if seed is not None else self.seeds[0]),
                               quant=quant, **train)
        except ValueError as e:                         # a [train] setting (the run has no name yet)
            raise SpecError("[train] " + str(e).removeprefix("run 'pending': ")) from None
        try:
            warmup_steps(schedule, config.steps)        # a warmup in updates must fit in the run
        except ValueError as e:
            raise SpecError(f"size {{width={width}, depth={depth}, heads={heads}}} with {tokens} tokens "
                            f"({config.steps} updates): {e}") from None
        if evals is not None:
            k = config.steps_per_dispatch
            every = max(1, math.ceil(config.steps / int(evals)))
            config = RunConfig.from_dict({**config.to_dict(), "eval_every": math.ceil(every / k) * k})
        if run is None:
            kind = schedule["kind"] if quant is None else f"b{quant['bits']}-f{quant['fraction']:g}-{quant['pipeline']}"
            run = f"w{width}-d{depth}-h{heads}-t{tokens_label(tokens)}-{kind}-{config.fingerprint()}"
        return RunConfig.from_dict({**config.to_dict(), "run": run})

    def runs(self) -> list:
        """Every run of the ladder, in expansion order (module docstring); with QAT axes, the
        runs of :mod:`ladders.branches` (trunks first, parents before their children)."""
        out = []
        mixtures = self.mixtures or [None]
        for size in self.sizes:
            key, values = next(iter((_size_budget(size) or self.budget).items()))
            for value in values:
                for schedule in self.schedules:
                    for mixture in mixtures:
                        for seed in self.seeds:
                            if self.qat:
                                out += branches.cell_runs(self, size, {key: value}, schedule, mixture, seed, self.qat)
                            else:
                                out.append(self.make_run(size["width"], size["depth"], size["heads"],
                                                         schedule=schedule, mixture=mixture, seed=seed,
                                                         **{key: value}))
        if self.qat:
            return branches.with_trunks(self, out)
        ids = [r.run for r in out]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SpecError(f"the spec lists the same run more than once: {dupes}")
        return out

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _size_budget(size: dict) -> dict:
    """A size's own budget (``tokens_per_param`` or ``tokens``), overriding ``[budget]``; or ``{}``."""
    return {k: v for k, v in size.items() if k in BUDGET_KEYS}


def _check_budget(where: str, budget: dict) -> dict:
    """``{key: [values]}`` with exactly one budget key and positive values; errors name ``where``."""
    if len(budget) != 1:
        raise SpecError(f"{where}: give exactly one of 'tokens_per_param' (list) and 'tokens' (list)")
    (key, values), = budget.items()
    values = values if isinstance(values, list) else [values]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise SpecError(f"{where}: {key} must be a non-empty list of positive numbers, got {budget[key]!r}")
    return {key: values}


def _check_seeds(d: dict) -> list:
    """The spec's seeds (``seeds = [...]`` or ``seed = k``; default ``[0]``): integers >= 0; errors name the key."""
    if "seed" in d and "seeds" in d:
        raise SpecError("ladder spec: give either 'seed' or 'seeds', not both")
    key = "seeds" if "seeds" in d else "seed"
    seeds = d.get(key, 0)
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SpecError(f"ladder spec: {key} must be {'a non-empty list of integers' if key == 'seeds' else 'an integer'}"
                        f" >= 0, got {d[key]!r}")
    return seeds


def _check_corpus_files(data: dict) -> None:
    """The files a user corpus names (``data.text``, ``data.arrays``) exist; a SpecError names the first that does not.

    Checked before any run starts (else every run fails on it); relative paths are relative to
    the spec file's folder (:func:`_resolve_paths`), or to the working directory for a spec given as
    a dict or text.
    """
    for domain, paths in data.get("text", {}).items():
        many = isinstance(paths, list)
        for path in paths if many else [paths]:
            if not isinstance(path, str):
                raise SpecError(f"[data.text]: domain {domain!r}: {path!r} is not a path (give a list of text files "
                                "or a directory)")
            if not (Path(path).is_file() if many else Path(path).exists()):
                raise SpecError(f"[data.text]: domain {domain!r}: {path} "
                                f"{'is not an existing file' if many else 'does not exist'}")
    for domain, splits in data.get("arrays", {}).items():
        for split in ("train", "validation"):
            path = splits[split]
            if not isinstance(path, str) or not Path(path).is_file():
                raise SpecError(f"[data.arrays]: domain {domain!r}: the {split} token file {path!r} does not exist")


def spec_from_dict(d: dict) -> LadderSpec:
    """Validate a spec given as a dict (the parsed TOML) and return a :class:`LadderSpec`."""
    _check_keys("ladder spec", d, TOP_KEYS)
    if "sizes" not in d or not d["sizes"]:
        raise SpecError("ladder spec: 'sizes' (a list of {width, depth, heads}) is required")
    sizes = []
    for i, size in enumerate(d["sizes"]):
        _check_keys(f"sizes[{i}]", size, SIZE_KEYS | BUDGET_KEYS)
        missing = sorted(SIZE_KEYS - set(size))
        if missing:
            raise SpecError(f"sizes[{i}]: missing {missing}")
        for k in SIZE_KEYS:
            v = size[k]
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise SpecError(f"sizes[{i}]: {k} must be a positive integer, got {v!r}")
        own = _size_budget(size)
        sizes.append({**{k: size[k] for k in SIZE_KEYS}, **(_check_budget(f"sizes[{i}]", own) if own else {})})
    model = dict(_check_keys("[model]", d.get("model", {}), {f.name for f in fields(ModelConfig)} - SIZE_KEYS))
    budget = {}
    if "budget" in d or not all(_size_budget(s) for s in sizes):
        budget = _check_budget("[budget]", _check_keys("[budget]", d.get("budget", {}), BUDGET_KEYS))
    train = dict(_check_keys("[train]", d.get("train", {}), TRAIN_KEYS))
    base_width = train.get("lr_base_width")
    if base_width is not None and not (isinstance(base_width, (int, float)) and not isinstance(base_width, bool)
                                       and base_width > 0):
        raise SpecError(f"[train]: lr_base_width must be a positive width, got {base_width!r}")
    if "evals" in train and "eval_every" in train:
        raise SpecError("[train]: give either 'evals' or 'eval_every', not both")
    schedules = d.get("schedules", [dict(DEFAULT_SCHEDULE)])
    schedules = schedules if isinstance(schedules, list) else [schedules]
    for i, s in enumerate(schedules):
        try:
            schedules[i] = schedule_to_dict(parse_schedule(s))
        except (TypeError, ValueError) as e:
            raise SpecError(f"schedules[{i}]: {e}") from None
    data = dict(_check_keys("[data]", d.get("data", {"corpus": "default"}), DATA_KEYS))
    for key in ("text", "arrays"):
        if not isinstance(data.get(key, {}), dict):
            raise SpecError(f"[data.{key}] must be a table of domains, got {data[key]!r}")
    for domain, paths in data.get("text", {}).items():
        if not paths:
            raise SpecError(f"[data.text]: domain {domain!r} is empty (give a list of text files or a directory)")
    for domain, splits in data.get("arrays", {}).items():
        if not isinstance(splits, dict) or not splits.get("train") or not splits.get("validation"):
            raise SpecError(f"[data.arrays]: domain {domain!r} needs both 'train' and 'validation' token files")
    if "arrays" in data and "vocab" not in data:
        raise SpecError("[data]: a token-array corpus needs 'vocab' (the tokenizer's vocabulary size)")
    if data.get("corpus", "default") != "default":
        raise SpecError(f"[data]: corpus must be 'default' (or use data.text / data.arrays), got {data['corpus']!r}")
    _check_corpus_files(data)
    seeds = _check_seeds(d)
    name = d.get("name", "ladder")
    if not isinstance(name, str):
        raise SpecError(f"ladder spec: name must be a string, got {name!r}")
    qat = {}
    if "qat" in d:
        try:
            qat = branches.check_qat(_check_keys("[qat]", d["qat"], branches.QAT_KEYS), schedules)
        except branches.QATSpecError as e:
            raise SpecError(str(e)) from None
    spec = LadderSpec(sizes=sizes, budget=budget, name=name, model=model,
                      train=train, schedules=schedules, data=data, mixtures=[], seeds=seeds, qat=qat)
    domains = spec.domains()
    if not domains:
        raise SpecError("[data]: the corpus has no domains")
    mixtures = d.get("mixtures", [])
    if isinstance(mixtures, dict) and not (mixtures and set(mixtures) <= set(domains)):  # not one mixture
        try:
            mixtures = generate_mixtures(mixtures, domains)
        except MixtureSpecError as e:
            raise SpecError(str(e)) from None
    mixtures = mixtures if isinstance(mixtures, list) else [mixtures]
    for i, m in enumerate(mixtures):
        _check_keys(f"mixtures[{i}]", m, set(domains))
        bad = {k: v for k, v in m.items() if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0}
        if bad or not sum(m.values()) > 0:
            raise SpecError(f"mixtures[{i}]: weights must be numbers >= 0 with a positive sum, got {m!r}")
    spec.mixtures = [dict(m) for m in mixtures]
    try:
        spec.runs()
    except (TypeError, ValueError) as e:
        raise SpecError(str(e)) from None
    return spec


def _resolve_paths(d: dict, base: Path) -> dict:
    """Make the corpus file paths of a spec file relative to the file's folder, not the cwd."""
    data = d.get("data")
    if not isinstance(data, dict):
        return d
    fix = lambda p: str(base / p) if isinstance(p, str) and not Path(p).is_absolute() else p
    data = dict(data)
    if isinstance(data.get("text"), dict):
        data["text"] = {k: [fix(p) for p in v] if isinstance(v, list) else fix(v) for k, v in data["text"].items()}
    if isinstance(data.get("arrays"), dict):
        data["arrays"] = {k: {s: fix(p) for s, p in v.items()} if isinstance(v, dict) else v
                          for k, v in data["arrays"].items()}
    return {**d, "data": data}


def _is_path(text: str) -> bool:
    """Whether a string given as a spec names a file rather than holding TOML text: one line that
    is an existing file, or one line without ``=`` (every TOML spec sets a key)."""
    if "\n" in text:
        return False
    try:
        return "=" not in text or Path(text).is_file()
    except (OSError, ValueError):   # a name too long, or with a NUL byte: TOML text
        return False


def _read_spec_file(path: Path) -> dict:
    """The dict a spec file holds: JSON for a ``.json`` file, TOML otherwise; SpecErrors name the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"cannot read ladder spec {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read ladder spec {path}: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    else:
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{path}: not valid TOML: {e}") from None
    if not isinstance(d, dict):
        raise SpecError(f"{path}: a ladder spec is an object of keys (sizes, budget, ...), got {type(d).__name__} {d!r:.60}")
    return d


def load_spec(source) -> LadderSpec:
    """A :class:`LadderSpec` from a spec, a dict, a path to a ``.json`` or TOML file, or TOML text."""
    if isinstance(source, LadderSpec):
        return source
    if isinstance(source, dict):
        return spec_from_dict(source)
    if isinstance(source, Path) or (isinstance(source, str) and _is_path(source)):
        path = Path(source)
        return spec_from_dict(_resolve_paths(_read_spec_file(path), path.parent))
    if isinstance(source, str):
        try:
            return spec_from_dict(tomllib.loads(source))
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"ladder spec: not valid TOML: {e}") from None
    raise TypeError(f"cannot read a ladder spec from {type(source).__name__}")


def expand_spec(source) -> list:
    """The list of :class:`ladders.config.RunConfig` of a spec (path, TOML text, dict or spec)."""
    return load_spec(source).runs()
