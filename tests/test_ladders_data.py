"""Tokenizer, the embedded default corpus, user corpora, mixture sampling."""
import json

import numpy as np
import pytest

from ladders import tokenizer
from ladders.corpus import (corpus_from_arrays, corpus_from_text_files, is_validation, load_corpus,
                            load_default_corpus, python_tag)
from ladders.data import normalize_mixture, train_batch, train_batches, validation_windows


def test_byte_tokenizer_round_trip():
    text = "def f(x):\n    return x  # ünïcode ✓"
    tokens = tokenizer.encode(text)
    assert tokens.dtype == np.uint8 and len(tokens) == len(text.encode())
    assert tokenizer.decode(tokens) == text
    joined = tokenizer.join_documents(["ab", "c"])
    assert list(joined) == [97, 98, 0, 99, 0]


@pytest.fixture(scope="module")
def default_corpus():
    return load_default_corpus()  # built once per Python version, then cached


def test_default_corpus_has_three_distinct_domains(default_corpus):
    c = default_corpus
    assert c.domains == ["code", "prose", "comments"]
    assert c.info["python"] == python_tag()
    for domain, sizes in c.sizes().items():
        assert sizes["train"] > 500_000 and sizes["validation"] > 20_000, domain
        assert c.split(domain, "train").dtype == np.uint8
    # distinct statistics: byte histograms differ (e.g. indentation and parentheses in code)
    hist = {d: np.bincount(np.asarray(c.split(d, "validation")), minlength=256) / len(c.split(d, "validation"))
            for d in c.domains}
    assert hist["code"][ord(" ")] > 1.3 * hist["prose"][ord(" ")] or hist["code"][ord("(")] > 2 * hist["prose"][ord("(")]
    assert hist["code"][ord("_")] > 2 * hist["comments"][ord("_")] or hist["code"][ord("=")] > 2 * hist["comments"][ord("=")]
    for a in c.domains:
        for b in c.domains:
            if a < b:
                assert 0.5 * np.abs(hist[a] - hist[b]).sum() > 0.05, (a, b)


def test_default_corpus_manifest_is_deterministic(default_corpus, tmp_path):
    from ladders.corpus import default_corpus_dir
    manifest = json.loads((default_corpus_dir() / "manifest.json").read_text())
    assert manifest["domains"]["code"]["train"]["sha256"] == default_corpus.info["domains"]["code"]["train"]["sha256"]
    assert is_validation("a/b.py", 0.05) == is_validation("a/b.py", 0.05)


def test_text_corpus_split_by_file(tmp_path):
    for i in range(40):
        (tmp_path / f"doc{i}.txt").write_text(f"document number {i} " * 20)
    c = corpus_from_text_files({"notes": tmp_path})
    assert c.domains == ["notes"]
    n_val = sum(is_validation(f"doc{i}.txt", 0.05) for i in range(40))
    assert c.split("notes", "validation").tolist().count(0) == max(n_val, 1)


def test_token_array_corpus_uint16_memmap(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "validation"):
        rng.integers(0, 50000, 5000).astype(np.uint16).tofile(tmp_path / f"{split}.bin")
    c = load_corpus({"arrays": {"web": {"train": tmp_path / "train.bin", "validation": tmp_path / "validation.bin"}},
                     "vocab": 50257})
    assert c.vocab == 50257 and isinstance(c.split("web", "train"), np.memmap)
    batch = train_batch(c, {"web": 1.0}, 0, 0, 4, 16)
    assert batch.shape == (4, 17) and batch.max() < 50000
    with pytest.raises(ValueError, match="lacks split"):
        corpus_from_arrays({"web": {"train": np.zeros(10)}}, vocab=10)


def test_mixture_sampling_proportions_and_determinism():
    arrays = {d: {"train": np.full(1000, v, np.uint8), "validation": np.full(100, v, np.uint8)}
              for d, v in (("a", 1), ("b", 2), ("c", 3))}
    c = corpus_from_arrays(arrays, vocab=256)
    mix = normalize_mixture({"a": 0.6, "b": 0.3, "c": 0.1}, c.domains)
    batches = train_batches(c, mix, 0, 50, seed=7, batch_size=32, context=8)
    share = np.bincount(batches[:, :, 0].ravel(), minlength=4)[1:] / batches[:, :, 0].size
    np.testing.assert_allclose(share, [0.6, 0.3, 0.1], atol=0.04)
    np.testing.assert_array_equal(train_batch(c, mix, 13, 7, 32, 8), batches[13])
    assert not np.array_equal(train_batch(c, mix, 13, 8, 32, 8), batches[13])
    v = validation_windows(c, "b", 5, 8)
    assert v.shape == (5, 9) and np.all(v == 2)


@pytest.mark.parametrize("mix,match", [({"z": 1.0}, "unknown domain"), ({"a": -1.0}, ">= 0"), ({"a": 0.0}, "no positive")])
def test_bad_mixtures(mix, match):
    with pytest.raises(ValueError, match=match):
        normalize_mixture(mix, ["a", "b"])
