"""The JAX ladder trainer (see the trainer issue)."""
