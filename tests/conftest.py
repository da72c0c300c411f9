"""Shared fixtures: the published reference data beside the checkout (../shared/data)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(*parts) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not found at {path}")
    return path


MAPS_BEFORE_CLEARING = 30000   # of the kernel's default limit of 65,530 memory maps per process


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """After a test module, drop JAX's in-memory compiled code when the worker holds many memory maps.
    Every executable XLA loads holds some; a worker running hundreds of fits of different shapes reached
    the kernel's limit and aborted.  Clearing at every module instead tripled the suite's time (every
    module traced the engine again)."""
    yield
    maps = Path("/proc/self/maps")
    if maps.exists() and len(maps.read_text().splitlines()) > MAPS_BEFORE_CLEARING:
        import jax
        from fitters import engine
        engine._compiled.cache_clear()
        jax.clear_caches()


@pytest.fixture(scope="session")
def epoch_runs() -> pd.DataFrame:
    """Besiroglu et al. 2024's reconstruction of Hoffmann et al. 2022 Fig. 4, D = C/(6N), the 5
    highest-loss points dropped as in their refit: 240 rows of params, tokens, loss."""
    d = pd.read_csv(shared_file("chinchilla_epoch", "svg_extracted_data.csv"))
    loss = d["loss"].to_numpy()
    keep = loss < np.sort(loss)[-5]
    runs = pd.DataFrame({"params": d["Model Size"], "tokens": d["Training FLOP"] / (6 * d["Model Size"]),
                         "loss": loss})[keep].reset_index(drop=True)
    assert len(runs) == 240
    return runs


def chinchilla_grid_runs(params: dict, noise: float, seed: int, n_sizes: int = 6, n_tokens: int = 6) -> pd.DataFrame:
    """Synthetic runs from a known Chinchilla law on an N x D grid, multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    N, D = np.meshgrid(np.geomspace(1e7, 3e9, n_sizes), np.geomspace(2e8, 1e11, n_tokens))
    N, D = N.ravel(), D.ravel()
    loss = params["E"] + params["A"] / N ** params["alpha"] + params["B"] / D ** params["beta"]
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss * np.exp(noise * rng.standard_normal(N.size))})


@pytest.fixture
def record_property(request):
    """pytest's `record_property`, with NumPy scalars and arrays turned into Python values first:
    pytest-xdist ships properties between processes with execnet, which cannot serialise
    `numpy.float64` and kills the worker."""
    def record(name: str, value) -> None:
        request.node.user_properties.append((name, _plain(value)))
    return record


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
