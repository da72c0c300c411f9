"""Data the toolkit ships, installed as ``scaling._data``: published laws (``published/``) and reference ladder runs."""
