"""Hybrid retrieval: an embedding model, a vector store, BM25, and their fusion.

The names below are imported on first use, so importing one part of the package (say
indexer.encoder) does not load the others."""

from __future__ import annotations

from importlib import import_module

_WHERE = {"Encoder": "indexer.encoder", "make_encoder": "indexer.encoder",
          "Hit": "indexer.index", "Index": "indexer.index"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
