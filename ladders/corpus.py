"""Corpora: named domains, each a train and a validation token array.

The **embedded default corpus** is built from text every CPython installation carries, so the
trainer works offline with no download:

* ``code``: standard-library ``.py`` sources (test directories, ``site-packages`` and the
  generated ``pydoc_data/topics.py`` left out), verbatim;
* ``prose``: English documentation: the help topics of ``pydoc_data/topics.py`` plus every
  module, class and function docstring of those sources (extracted with :mod:`ast`);
* ``comments``: the ``#`` comments of those sources (extracted with :mod:`tokenize`), one
  comment per line.

The three domains have clearly different statistics (a byte model reaches very different
losses on them).  Documents are byte-tokenized (:mod:`ladders.tokenizer`) and joined with the
NUL separator.  The split is by file: a source file goes to validation when the first byte of
``sha256(relative path)`` is below ``256 * validation_fraction``, so the split does not
depend on file order or on other files; help topics split the same way by topic name.

The build takes a few seconds and is cached as ``<domain>.<split>.npy`` (``uint8``) plus
``manifest.json`` (Python version, file counts, sizes, content hashes) under
``$SCALING_CACHE/corpus/<implementation>-<version>/`` (default cache root
``~/.cache/scaling-toolkit``).  The standard library differs between Python versions, so the
version is part of the path and of the manifest.

**User corpora**: :func:`corpus_from_text_files` (text files per domain, split by file hash like
the default) and :func:`corpus_from_arrays` (ready token arrays per domain and split: ``.npy``
files, raw ``uint16`` memmaps ``.bin`` or in-memory arrays).
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import platform
import sys
import sysconfig
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import tokenizer

BUILD_VERSION = 1  # bump when the extraction rules change (invalidates caches)
DEFAULT_DOMAINS = ("code", "prose", "comments")
SPLITS = ("train", "validation")
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def cache_root() -> Path:
    """``$SCALING_CACHE`` if set, else ``~/.cache/scaling-toolkit``."""
    return Path(os.environ.get("SCALING_CACHE") or Path.home() / ".cache" / "scaling-toolkit")


def python_tag() -> str:
    """E.g. ``cpython-3.11.7``: names the standard library the default corpus comes from."""
    return f"{platform.python_implementation().lower()}-{platform.python_version()}"


@dataclass
class Corpus:
    """Token arrays per domain and split: ``corpus.arrays[domain][split]`` (1-D integer arrays)."""
    arrays: dict
    vocab: int = tokenizer.VOCAB_SIZE
    info: dict = field(default_factory=dict)

    @property
    def domains(self) -> list:
        return list(self.arrays)

    def split(self, domain: str, split: str) -> np.ndarray:
        try:
            return self.arrays[domain][split]
        except KeyError:
            raise KeyError(f"corpus has no {split!r} split for domain {domain!r}; domains: {self.domains}") from None

    def sizes(self) -> dict:
        return {d: {s: int(len(a)) for s, a in splits.items()} for d, splits in self.arrays.items()}


def is_validation(name: str, fraction: float) -> bool:
    """Deterministic split rule: first byte of ``sha256(name)`` below ``256 * fraction``."""
    return hashlib.sha256(name.encode("utf-8")).digest()[0] < 256 * fraction


def stdlib_sources(stdlib: Path | None = None) -> list:
    """Sorted relative paths of the standard-library ``.py`` files used by the default corpus."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("test"))
        for name in filenames:
            if name.endswith(".py") and not name.startswith("test_"):
                rel = Path(dirpath, name).relative_to(root).as_posix()
                if rel != "pydoc_data/topics.py":
                    paths.append(rel)
    return sorted(paths)


def docstrings(tree: ast.AST) -> list:
    """Docstrings of the module and every class and function in it, cleaned by ``ast.get_docstring``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                out.append(doc)
    return out


def comments(source: str) -> list:
    """Text of the ``#`` comments in ``source`` (without the leading ``#`` and blanks)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                text = tok.string.lstrip("#").strip()
                if text and not text.startswith("!"):
                    out.append(text)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return out


def help_topics() -> dict:
    """``pydoc_data.topics.topics``: help text keyed by topic name (empty if absent)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip it
        return {}
    return dict(topics)


def extract_default_documents(validation_fraction: float = 0.05, stdlib: Path | None = None) -> dict:
    """``{domain: {split: [text, ...]}}`` for the default corpus (deterministic order)."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    docs = {d: {s: [] for s in SPLITS} for d in DEFAULT_DOMAINS}
    for rel in stdlib_sources(root):
        try:
            source = (root / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        split = "validation" if is_validation(rel, validation_fraction) else "train"
        docs["code"][split].append(source)
        try:
            docs["prose"][split].extend(docstrings(ast.parse(source)))
        except (SyntaxError, ValueError):
            pass
        lines = comments(source)
        if lines:
            docs["comments"][split].append("\n".join(lines))
    for name, text in sorted(help_topics().items()):
        split = "validation" if is_validation("topic:" + name, validation_fraction) else "train"
        docs["prose"][split].append(text)
    return docs


def build_default_corpus(directory: Path, validation_fraction: float = 0.05) -> dict:
    """Extract, tokenize and save the default corpus into ``directory``; return its manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    docs = extract_default_documents(validation_fraction)
    manifest = {
        "build_version": BUILD_VERSION, "python": python_tag(), "python_full": sys.version,
        "stdlib": sysconfig.get_paths()["stdlib"], "validation_fraction": validation_fraction,
        "tokenizer": "bytes", "vocab": tokenizer.VOCAB_SIZE, "domains": {},
    }
    for domain, splits in docs.items():
        manifest["domains"][domain] = {}
        for split, texts in splits.items():
            tokens = tokenizer.join_documents(texts)
            if len(tokens) == 0:
                raise RuntimeError(f"default corpus: domain {domain!r} has an empty {split} split")
            tmp = directory / f".{domain}.{split}.{os.getpid()}.tmp.npy"  # builders may race
            np.save(tmp, tokens)
            os.replace(tmp, directory / f"{domain}.{split}.npy")
            manifest["domains"][domain][split] = {
                "documents": len(texts), "tokens": int(len(tokens)),
                "sha256": hashlib.sha256(tokens.tobytes()).hexdigest(),
            }
    tmp = directory / f".manifest.{os.getpid()}.tmp.json"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, directory / "manifest.json")
    return manifest


def default_corpus_dir() -> Path:
    return cache_root() / "corpus" / python_tag()


def load_default_corpus(directory: Path | None = None, rebuild: bool = False) -> Corpus:
    """The embedded default corpus (built on first use, then memory-mapped from the cache)."""
    directory = Path(directory or default_corpus_dir())
    manifest_path = directory / "manifest.json"
    manifest = None
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("build_version") != BUILD_VERSION:
            manifest = None
    if manifest is None:
        manifest = build_default_corpus(directory)
    arrays = {
        domain: {split: np.load(directory / f"{domain}.{split}.npy", mmap_mode="r") for split in SPLITS}
        for domain in manifest["domains"]
    }
    return Corpus(arrays=arrays, vocab=tokenizer.VOCAB_SIZE, info=manifest)


def corpus_from_text_files(domains: dict, validation_fraction: float = 0.05) -> Corpus:
    """Byte-tokenized corpus from ``{domain: [text file paths]}`` (or one path/glob directory).

    Each file is a document; files split into train/validation by the hash of their name (as the
    default corpus).  A domain whose files all land in one split gets its last file moved to the
    other so that both splits are non-empty; a domain with no text is an error.
    """
    arrays = {}
    for domain, paths in domains.items():
        if isinstance(paths, (str, os.PathLike)):
            p = Path(paths)
            paths = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        paths = sorted(Path(x) for x in paths)
        if not paths:
            raise ValueError(f"text corpus domain {domain!r} has no files")
        texts = {s: [] for s in SPLITS}
        for p in paths:
            split = "validation" if is_validation(p.name, validation_fraction) else "train"
            texts[split].append(p.read_text(encoding="utf-8", errors="replace"))
        for s, other in (("train", "validation"), ("validation", "train")):
            if not texts[s]:
                if len(texts[other]) < 2:
                    raise ValueError(f"text corpus domain {domain!r} needs at least 2 files (one per split)")
                texts[s].append(texts[other].pop())
        arrays[domain] = {s: tokenizer.join_documents(t) for s, t in texts.items()}
        for s in SPLITS:
            if len(arrays[domain][s]) < 2:
                raise ValueError(f"text corpus domain {domain!r}: the {s} split is empty")
    return Corpus(arrays=arrays, vocab=tokenizer.VOCAB_SIZE, info={"source": "text files"})


def _load_array(obj, dtype):
    if isinstance(obj, np.ndarray):
        return obj
    path = Path(obj)
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r")
    return np.memmap(path, dtype=dtype, mode="r")


def corpus_from_arrays(domains: dict, vocab: int, dtype: str = "uint16") -> Corpus:
    """Corpus from ready token arrays: ``{domain: {"train": a, "validation": b}}``.

    Each array is a 1-D integer array, a ``.npy`` file, or a raw binary file read as a memmap of
    ``dtype`` (``uint16`` by default, the usual format for GPT-2-style token dumps).
    """
    arrays = {}
    for domain, splits in domains.items():
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise ValueError(f"token-array domain {domain!r} lacks split(s) {missing}")
        arrays[domain] = {s: _load_array(splits[s], dtype) for s in SPLITS}
        for s, a in arrays[domain].items():
            if a.ndim != 1 or len(a) < 2:
                raise ValueError(f"token-array domain {domain!r}: the {s} split must be a 1-D array with >= 2 tokens")
    return Corpus(arrays=arrays, vocab=int(vocab), info={"source": "token arrays"})


def load_corpus(spec) -> Corpus:
    """A corpus from a spec value: ``"default"``, a :class:`Corpus`, or a dict
    ``{"text": {domain: paths}}`` / ``{"arrays": {domain: {split: path}}, "vocab": V, "dtype": "uint16"}``."""
    if isinstance(spec, Corpus):
        return spec
    if spec is None or spec == "default":
        return load_default_corpus()
    if isinstance(spec, dict) and "text" in spec:
        return corpus_from_text_files(spec["text"], spec.get("validation_fraction", 0.05))
    if isinstance(spec, dict) and "arrays" in spec:
        if "vocab" not in spec:
            raise ValueError("a token-array corpus needs 'vocab' (the tokenizer's vocabulary size)")
        return corpus_from_arrays(spec["arrays"], spec["vocab"], spec.get("dtype", "uint16"))
    raise ValueError(f"unknown corpus {spec!r}; expected 'default', {{'text': ...}} or {{'arrays': ...}}")
