"""Data-parallel training over 2 (forced host) devices gives the single-device loss curve."""
import json
import os
import subprocess
import sys

import numpy as np

from ladders.config import RunConfig
from ladders.model import ModelConfig
from ladders.runlog import read_rows
from ladders.train import train_run

CONFIG = RunConfig(run="r", model=ModelConfig(width=32, depth=2, heads=2, context=32, compute_dtype="float32"),
                   tokens=16 * 8 * 32, batch_size=8, eval_every=8, eval_windows=16, steps_per_dispatch=4)

CHILD = """
import json, sys, jax
from ladders import parallel
from ladders.config import RunConfig
from ladders.runlog import read_rows
from ladders.train import train_run
assert jax.device_count() == 2 and parallel.data_mesh(8) is not None
cfg = RunConfig.from_dict(json.loads(sys.argv[1]))
train_run(cfg, sys.argv[2], progress=False)
print(json.dumps(read_rows(sys.argv[2] + "/r").loss.tolist()))
"""


def test_two_devices_match_one(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CONFIG.to_dict()), str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    two = json.loads(out.stdout.strip().splitlines()[-1])
    train_run(CONFIG, tmp_path / "one", progress=False)
    one = read_rows(tmp_path / "one" / "r").loss.tolist()
    assert len(one) == len(two) == 10
    np.testing.assert_allclose(two, one, rtol=2e-5)
