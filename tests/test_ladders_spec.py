"""Ladder specs: expansion, stable run ids, clear errors."""
import pytest

from ladders.model import ModelConfig, param_counts
from ladders.spec import SpecError, expand_spec, load_spec

TOML = """
name = "t"
sizes = [{width = 32, depth = 2, heads = 2}, {width = 48, depth = 2, heads = 2},
         {width = 64, depth = 2, heads = 4}, {width = 64, depth = 3, heads = 4}]
[model]
context = 32
[budget]
tokens_per_param = [2, 4, 8]
[train]
batch_size = 8
evals = 4
steps_per_dispatch = 4
[[schedules]]
kind = "cosine"
peak = 3e-3
[[schedules]]
kind = "wsd"
peak = 3e-3
decay_fraction = 0.2
[[mixtures]]
code = 1
prose = 1
[[mixtures]]
comments = 1
"""


def test_expansion_4_sizes_x_3_budgets_x_2_schedules_x_2_mixtures(tmp_path):
    path = tmp_path / "ladder.toml"
    path.write_text(TOML)
    runs = expand_spec(path)
    assert len(runs) == 4 * 3 * 2 * 2
    assert len({r.run for r in runs}) == len(runs)
    first = runs[0]
    n = param_counts(ModelConfig(width=32, depth=2, heads=2, context=32))["non_embedding"]
    assert first.tokens == 2 * n and first.model.context == 32 and first.batch_size == 8
    assert first.mixture == {"code": 0.5, "prose": 0.5, "comments": 0.0}
    assert first.run.startswith("w32-d2-h2-t") and "cosine" in first.run
    for r in runs:
        assert r.eval_every % 4 == 0 and r.steps / r.eval_every <= 4
    assert [r.run for r in expand_spec(TOML)] == [r.run for r in runs]  # TOML text works too


def test_run_ids_are_stable_when_the_spec_grows():
    small = {r.run for r in expand_spec(TOML)}
    grown = TOML.replace("tokens_per_param = [2, 4, 8]", "tokens_per_param = [2, 4, 8, 16]")
    assert small < {r.run for r in expand_spec(grown)}


def test_make_run_for_a_held_out_model():
    spec = load_spec(TOML)
    big = spec.make_run(width=128, depth=4, heads=4, tokens_per_param=20)
    assert big.model.width == 128 and big.model.context == 32
    assert big.tokens == 20 * param_counts(big.model)["non_embedding"]
    assert big.schedule == spec.schedules[0]
    assert spec.make_run(width=128, depth=4, heads=4, tokens=10**6, run="heldout").run == "heldout"


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.update(colour="red"), "unknown key"),
    (lambda d: d["sizes"].append({"width": -64, "depth": 2, "heads": 2}), "positive integer"),
    (lambda d: d["sizes"].append({"width": 30, "depth": 2, "heads": 4}), "divisible"),
    (lambda d: d["train"].update(lr=1), r"\[train\]: unknown key"),
    (lambda d: d.update(budget={}), "exactly one"),
    (lambda d: d.update(budget={"tokens": [-5]}), "positive"),
    (lambda d: d.update(mixtures=[{"code": 0, "prose": 0}]), "positive sum"),
    (lambda d: d.update(mixtures=[{"klingon": 1}]), "unknown key"),
    (lambda d: d.update(data={"text": {"notes": []}}), "empty"),
    (lambda d: d.update(schedules=[{"kind": "cosine"}]), "peak"),
    (lambda d: d.update(sizes=[]), "sizes"),
    (lambda d: d["train"].update(lr_base_width=0), "lr_base_width must be a positive width"),
    (lambda d: d["train"].update(batch_size=0), r"^\[train\] batch_size must be a positive integer, got 0"),
    (lambda d: d.update(model={"vocab": 10}), r"\[model\] vocab = 10 is smaller than the corpus's vocabulary \(256"),
    (lambda d: d.update(seed="x"), "seed must be an integer >= 0, got 'x'"),
    (lambda d: d.update(seed=1.5), "seed must be an integer"),
    (lambda d: d.update(seed=True), "seed must be an integer"),
    (lambda d: d.update(seed=-1), "seed must be an integer >= 0"),
    (lambda d: d.update(seeds=[0, "1"]), "seeds must be a non-empty list of integers"),
    (lambda d: d.update(seeds=[]), "seeds must be a non-empty list"),
    (lambda d: d.update(seed=0, seeds=[1]), "either 'seed' or 'seeds'"),
    (lambda d: d.update(name=5), "name must be a string, got 5"),
    (lambda d: d.update(schedules=[{"kind": "cosine", "peak": "abc"}]), r"schedules\[0\]: .*peak='abc' is not a number"),
    (lambda d: d.update(schedules=[{"kind": "cosine", "peak": 3e-3, "warmup": 10**6}]), "warmup=1000000 updates"),
    (lambda d: d.update(data={"text": "notes.txt"}), r"\[data.text\] must be a table"),
    (lambda d: d.update(data={"text": {"notes": ["nonexist/a.txt"]}}), "nonexist/a.txt is not an existing file"),
    (lambda d: d.update(data={"text": {"notes": "nonexist/"}}), "nonexist/ does not exist"),
    (lambda d: d.update(data={"text": {"notes": [3]}}), "3 is not a path"),
    (lambda d: d.update(data={"arrays": {"web": {"train": "no.bin", "validation": "no.bin"}}, "vocab": 300}),
     "the train token file 'no.bin' does not exist"),
])
def test_bad_specs_get_clear_errors(edit, match):
    d = {"sizes": [{"width": 32, "depth": 2, "heads": 2}], "budget": {"tokens_per_param": [2]}, "train": {}}
    edit(d)
    with pytest.raises(SpecError, match=match):
        load_spec(d)


def test_invalid_toml_is_a_spec_error():
    with pytest.raises(SpecError, match="TOML"):
        load_spec("sizes = [\n")


def test_demo_presets_and_held_out_run():
    from ladders.presets import demo_spec, held_out_run
    for quick in (True, False):
        spec = load_spec(demo_spec(quick))
        runs = spec.runs()
        assert len(runs) == 12 and len({(r.model.width, r.model.depth) for r in runs}) == 4
        flops = lambda r: 6 * param_counts(r.model)["non_embedding"] * r.tokens
        big = held_out_run(spec)
        assert big.run == "held-out" and flops(big) >= 4 * max(flops(r) for r in runs)
        assert param_counts(big.model)["non_embedding"] > max(param_counts(r.model)["non_embedding"] for r in runs)


def test_corpus_paths_in_a_spec_file_are_relative_to_it(tmp_path, monkeypatch):
    (tmp_path / "corpus").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "corpus" / name).write_text("text")
    (tmp_path / "ladder.toml").write_text(
        'sizes = [{width = 32, depth = 2, heads = 2}]\n[budget]\ntokens = [1000]\n'
        '[data.text]\nnotes = ["corpus/a.txt", "corpus/b.txt"]\n')
    monkeypatch.chdir("/")
    (run,) = expand_spec(tmp_path / "ladder.toml")
    assert run.corpus["text"]["notes"] == [str(tmp_path / "corpus/a.txt"), str(tmp_path / "corpus/b.txt")]
    assert run.mixture == {"notes": 1.0}
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")


def test_the_documented_example_spec_expands():
    import textwrap

    import ladders.spec
    doc = ladders.spec.__doc__
    example = textwrap.dedent(doc.split("::", 1)[1].split("Expansion order")[0])
    runs = expand_spec(example)
    assert len(runs) == 2 * 3 and runs[0].mixture == {"code": 0.5, "prose": 0.3, "comments": 0.2}


def test_a_size_may_carry_its_own_budget():
    spec = {"sizes": [{"width": 32, "depth": 1, "heads": 2, "tokens_per_param": [40]},
                      {"width": 16, "depth": 1, "heads": 2, "tokens": [5000, 9000]},
                      {"width": 16, "depth": 2, "heads": 2}],
            "budget": {"tokens_per_param": [3]}}
    runs = expand_spec(spec)
    n = lambda r: param_counts(r.model)["non_embedding"]
    assert [(r.model.width, r.model.depth, r.tokens) for r in runs] == [
        (32, 1, 40 * n(runs[0])), (16, 1, 5000), (16, 1, 9000), (16, 2, 3 * n(runs[3]))]
    del spec["budget"]          # needed only by sizes without their own
    with pytest.raises(SpecError, match=r"\[budget\]"):
        load_spec(spec)
    spec["sizes"].pop()
    assert len(expand_spec(spec)) == 3
    with pytest.raises(SpecError, match=r"sizes\[0\]: tokens_per_param must be"):
        load_spec({"sizes": [{"width": 8, "depth": 1, "heads": 1, "tokens_per_param": [-1]}]})


def test_lr_base_width_scales_each_width_s_rates():
    """muP's Adam rule (rate ~ 1 / width): width w trains at base / w times the schedule's peak and floor."""
    spec = load_spec({"sizes": [{"width": 32, "depth": 2, "heads": 2}, {"width": 96, "depth": 2, "heads": 2}],
                      "budget": {"tokens_per_param": [2]}, "train": {"lr_base_width": 48},
                      "schedules": [{"kind": "cosine", "peak": 3e-3, "floor": 3e-4, "warmup": 0.05}]})
    small, big = spec.runs()
    assert (small.schedule["peak"], small.schedule["floor"]) == (0.0045, 0.00045)
    assert (big.schedule["peak"], big.schedule["floor"]) == (0.0015, 0.00015)
    assert spec.make_run(width=48, depth=2, heads=2, tokens=1000).schedule["peak"] == 3e-3


def test_the_shipped_lr_width_sweep_spec_expands():
    """data/lr_width_sweep.toml (README, "Measured"): 3 widths x 3 peak rates at one token budget."""
    from pathlib import Path
    runs = expand_spec(Path(__file__).resolve().parents[1] / "data" / "lr_width_sweep.toml")
    assert sorted({(r.model.width, r.schedule["peak"]) for r in runs}) == [
        (w, p) for w in (32, 64, 128) for p in (1e-3, 3e-3, 1e-2)]
    assert {r.tokens for r in runs} == {1200000}


def test_a_spec_file_is_read_by_its_suffix_and_a_missing_one_is_named(tmp_path):
    """A .json spec is JSON (the CLI's `ladder run SPEC` takes .toml or .json), any other file TOML;
    a missing file is named as missing, not parsed as TOML text; one-line TOML text still works."""
    import json
    d = {"sizes": [{"width": 32, "depth": 2, "heads": 2}], "budget": {"tokens": [1000]}, "seed": 3}
    (tmp_path / "spec.json").write_text(json.dumps(d))
    assert load_spec(tmp_path / "spec.json").seeds == [3]
    assert load_spec(str(tmp_path / "spec.json")).seeds == [3]
    (tmp_path / "spec.cfg").write_text('seed = 4\nsizes = [{width = 32, depth = 2, heads = 2}]\n[budget]\ntokens = [1000]\n')
    assert load_spec(str(tmp_path / "spec.cfg")).seeds == [4]
    for name, text, match in [("bad.json", "{bad", "bad.json: not valid JSON \\(line 1, column 2"),
                              ("list.json", "[1, 2]", "list.json: a ladder spec is an object"),
                              ("bad.yaml", "sizes: []", "bad.yaml: not valid TOML")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(SpecError, match=match):
            load_spec(str(tmp_path / name))
    for missing in ("missing.json", "missing.toml", "missing"):
        with pytest.raises(SpecError, match=f"cannot read ladder spec .*{missing}: no such file"):
            load_spec(str(tmp_path / missing))
    (run,) = expand_spec("sizes = [{width = 32, depth = 2, heads = 2, tokens = [1000]}]")
    assert run.tokens == 1000
