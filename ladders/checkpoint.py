"""Checkpoints: the parameters, the optimizer state and the step, saved atomically.

Leaves of the ``(params, opt_state)`` pytree are written in order to one ``.npz`` (float32 and
int32 arrays exactly as in memory, so a restored run continues bit for bit), together with a JSON
``meta`` record (the step and anything the caller adds).  The file is written to a temporary name
and renamed over the previous checkpoint, so a kill at any moment leaves either the old or the new
checkpoint, never a torn one.  The data stream needs no state of its own: batches are a pure
function of ``(seed, step)`` (:mod:`ladders.data`).  ``name`` selects another file of the
folder: a run keeps ``fork-<step>.npz`` (:func:`fork_name`) at the steps its children start from.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np

FILENAME = "checkpoint.npz"


def fork_name(step: int) -> str:
    """The file a run keeps at ``step`` for the runs forked from it."""
    return f"fork-{int(step):08d}.npz"


def save(directory, state, meta: dict, name: str = FILENAME) -> None:
    """Write pytree ``state`` and ``meta`` (JSON-able dict) to ``directory/name``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
    arrays = {f"leaf_{i:05d}": x for i, x in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = directory / (name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / name)


def read_meta(directory, name: str = FILENAME) -> dict | None:
    """The ``meta`` record of a checkpoint, or ``None`` if absent."""
    path = Path(directory) / name
    if not path.exists():
        return None
    with np.load(path) as data:
        return json.loads(data["meta"].tobytes().decode())


def load(directory, like, name: str = FILENAME):
    """``(state, meta)`` restored into the structure of pytree ``like`` (arrays or
    ``jax.ShapeDtypeStruct``), or ``None`` if absent."""
    path = Path(directory) / name
    if not path.exists():
        return None
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes().decode())
        leaves_like, treedef = jax.tree_util.tree_flatten(like)
        names = sorted(k for k in data.files if k.startswith("leaf_"))
        if len(names) != len(leaves_like):
            raise ValueError(f"checkpoint {path} has {len(names)} arrays, the model needs {len(leaves_like)}")
        leaves = []
        for name, ref in zip(names, leaves_like):
            x = data[name]
            if x.shape != ref.shape or x.dtype != ref.dtype:
                raise ValueError(f"checkpoint {path}: {name} is {x.dtype}{x.shape}, expected {ref.dtype}{ref.shape}")
            leaves.append(x)
    return jax.tree_util.tree_unflatten(treedef, leaves), meta
