"""Data parallelism over a ``jax.sharding.Mesh`` of all local devices.

With ``n > 1`` devices, a 1-D mesh with axis ``"data"`` is built; parameters and optimizer state
are replicated (``PartitionSpec()``) and every batch is split along its batch axis.  The train
step is the same jitted function: XLA's SPMD partitioner sees the shardings and inserts the
all-reduce of the gradients, so the update equals the single-device update on the global batch
(up to float summation order).  With one device (or a batch not divisible by ``n``), everything
stays on the default device.  On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
makes ``N`` devices for testing.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def data_mesh(batch_size: int, devices=None):
    """A ``("data",)`` mesh over the devices when there are several and they divide the batch."""
    devices = list(devices if devices is not None else jax.devices())
    if len(devices) < 2 or batch_size % len(devices):
        return None
    return Mesh(np.array(devices), ("data",))


def replicate(tree, mesh):
    """Put a pytree on every device of ``mesh`` (or leave it as is without a mesh)."""
    if mesh is None:
        return tree
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(array, mesh, batch_axis: int):
    """Put ``array`` on the devices, split along ``batch_axis`` (plain ``device_put`` without a mesh)."""
    if mesh is None:
        return jax.device_put(array)
    spec = [None] * np.ndim(array)
    spec[batch_axis] = "data"
    return jax.device_put(array, NamedSharding(mesh, P(*spec)))
