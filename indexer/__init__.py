"""Hybrid retrieval: an embedding model, a vector store, BM25, and their fusion."""

from indexer.encoder import Encoder, make_encoder
from indexer.index import Hit, Index

__all__ = ["Encoder", "Hit", "Index", "make_encoder"]
