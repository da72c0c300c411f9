"""Byte-level tokenizer: one token per UTF-8 byte, vocabulary 256.

Token ``b`` is the byte ``b``; decoding is the inverse (invalid UTF-8 is replaced).  Byte 0
(NUL) never occurs in text files, so the corpus uses it as the document separator
(:data:`SEPARATOR`) instead of adding a special token: the vocabulary stays exactly 256 and
every token array fits in ``uint8``.  Loss per token is then loss per byte.
"""
from __future__ import annotations

import numpy as np

VOCAB_SIZE = 256
SEPARATOR = 0  # NUL byte, written between documents


def encode(text: str) -> np.ndarray:
    """UTF-8 bytes of ``text`` as a ``uint8`` token array (NUL bytes are dropped)."""
    data = text.encode("utf-8", errors="replace").replace(b"\x00", b"")
    return np.frombuffer(data, dtype=np.uint8).copy()


def decode(tokens) -> str:
    """Inverse of :func:`encode` (separators become newlines; bad UTF-8 is replaced)."""
    data = np.asarray(tokens, dtype=np.uint8).tobytes().replace(b"\x00", b"\n")
    return data.decode("utf-8", errors="replace")


def join_documents(texts) -> np.ndarray:
    """Encode each text and concatenate them, each followed by :data:`SEPARATOR`."""
    parts = []
    for text in texts:
        parts.append(encode(text))
        parts.append(np.array([SEPARATOR], dtype=np.uint8))
    if not parts:
        return np.zeros(0, dtype=np.uint8)
    return np.concatenate(parts)
