"""Samples drawn once and reused by later runs: `policy.sample_cache: DIR`.

Runs that compare methods, heuristics or QVM seeds on the same questions ask the policy for
continuations of many of the same states: every A* run expands the same question prompt first, the
oracle heuristic continues the same candidates at every noise level, best-of-N and self-consistency
sample the same prompt. With a sample cache each such continuation is generated once: a request
for n samples of a state (the prompt text and every sampling setting: temperature, top_p, token
limit, stop strings, logprobs) takes the k-th, (k+1)-th, ... samples ever drawn for that state,
where k counts the samples this run has already taken of it, and generates only those not drawn
before. Within a run the samples of a state stay distinct draws, so a method sees what it would
have seen without the cache: independent samples from the policy. Across runs they are shared
(common random numbers), which makes paired comparisons sharper, never biased.

What a run reports as its compute is unchanged: a method's tokens per question count every token
of every sample it used, cached or not. The session record says which were generated
(`generated_tokens`, as without a cache) and which came from the cache (`cached_tokens`).

The cache is a SQLite file per folder, keyed by the model (backend, weights, dtype) and the state;
runs on several processes or machines may share it (SQLite locks it; two processes drawing the
same state at once each keep their own draw, and the first one stored is the one later runs read).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

from qstar_cli.backends.base import BackendUsage, Generation, GenParams, PolicyBackend
from qstar_cli.errors import QstarError

FILE = "samples.sqlite"


class SampleStore:
    """(model, state key, index) -> one generation, in `folder`/samples.sqlite."""

    def __init__(self, folder: str | Path, model: str) -> None:
        path = Path(folder).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path / FILE, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last draws, never the file
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS samples (model TEXT, state TEXT, idx INTEGER, gen TEXT, "
                "PRIMARY KEY (model, state, idx))"
            )
        except (OSError, sqlite3.Error) as exc:
            raise QstarError(f"policy.sample_cache {folder}: cannot open {FILE} there ({exc})") from None
        self.model = model

    def get(self, state: str, start: int, count: int) -> list[Generation]:
        """Samples start .. start + count - 1 of `state` that exist, in order, up to the first missing."""
        rows = dict(
            self.db.execute(
                "SELECT idx, gen FROM samples WHERE model = ? AND state = ? AND idx >= ? AND idx < ?",
                (self.model, state, start, start + count),
            ).fetchall()
        )
        out = []
        for i in range(start, start + count):
            if i not in rows:
                break
            out.append(Generation(**json.loads(rows[i])))
        return out

    def put(self, state: str, start: int, gens: list[Generation]) -> None:
        with self.db:  # one transaction; a draw someone stored first stays (INSERT OR IGNORE)
            self.db.executemany(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?)",
                [(self.model, state, start + i, json.dumps(g.__dict__)) for i, g in enumerate(gens)],
            )

    def close(self) -> None:
        self.db.close()


def state_key(prompt: str, params: GenParams) -> str:
    """What a sample depends on: the prompt and every sampling setting (not the per-request seed,
    which only picks a draw)."""
    spec = [prompt, params.temperature, params.top_p, params.max_tokens, list(params.stop), params.logprobs]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


class CachedBackend(PolicyBackend):
    """A backend whose samples come from a `SampleStore` where they exist, else from `inner`."""

    def __init__(self, inner: PolicyBackend, store: SampleStore) -> None:
        # not PolicyBackend.__init__: the usage counters are the inner backend's
        self.inner, self.store = inner, store
        self.refill, self._tickets = inner.refill, itertools.count()
        self.name, self.streams, self.tokenizer = inner.name, inner.streams, getattr(inner, "tokenizer", None)
        self.serves_policy = inner.serves_policy
        self.taken: dict[str, int] = {}  # state key -> samples of it this run has taken
        self.cached = BackendUsage()  # what came from the store
        # inner ticket -> (our ticket, state key, first index, samples already found in the store)
        self._pending: dict[int, tuple[int, str, int, list[Generation]]] = {}
        self._ready: list[tuple[int, list[Generation]]] = []

    # everything but sampling is the inner backend's
    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def usage(self) -> BackendUsage:  # what was generated; `cached` counts what the store gave
        return self.inner.usage

    @property
    def retries(self) -> int:
        return self.inner.retries

    def session_usage(self) -> dict:
        return {**self.inner.session_usage(), "cached_tokens": self.cached.generated_tokens}

    def render(self, messages: list[dict]) -> str:
        return self.inner.render(messages)

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def piece_lengths(self, token_ids: list[int]) -> list[int]:
        return self.inner.piece_lengths(token_ids)

    def split_steps(self, gen, fmt):
        return self.inner.split_steps(gen, fmt)

    def _claim(self, prompt: str, params: GenParams) -> tuple[str, int, list[Generation], int]:
        """(state key, first index, samples found in the store, how many to generate)."""
        key = state_key(prompt, params)
        start = self.taken.get(key, 0)
        self.taken[key] = start + params.n
        found = self.store.get(key, start, params.n)
        if found:
            self.cached.count([found], 0.0)
        return key, start, found, params.n - len(found)

    def generate(self, prompts: list[str], params: GenParams, keys: list | None = None) -> list[list[Generation]]:
        claims = [self._claim(p, params) for p in prompts]
        out = [found for _, _, found, _ in claims]
        missing: dict[int, list[int]] = {}  # samples still to draw -> prompts
        for i, (_, _, _, need) in enumerate(claims):
            if need:
                missing.setdefault(need, []).append(i)
        for need, idx in missing.items():
            gens = self.inner.generate(
                [prompts[i] for i in idx], _with_n(params, need), [keys[i] for i in idx] if keys else None
            )
            for i, new in zip(idx, gens):
                key, start, found, _ = claims[i]
                self.store.put(key, start + len(found), new)
                out[i] = found + new
        return out

    def submit(self, prompt: str, params: GenParams, key: str | None = None) -> int:
        ticket = next(self._tickets)
        state, start, found, need = self._claim(prompt, params)
        if need:
            self._pending[self.inner.submit(prompt, _with_n(params, need), key)] = (ticket, state, start, found)
        else:
            self._ready.append((ticket, found))
        return ticket

    def in_flight(self) -> int:
        return len(self._ready) + self.inner.in_flight()

    def collect(self) -> list[tuple[int, list[Generation]]]:
        """What the store answered at once, else what the engine finished (it is stepped only when
        nothing is ready, so a search handles cached answers without waiting for a decode step)."""
        out, self._ready = self._ready, []
        if not out and self._pending:
            for inner_ticket, new in self.inner.collect():
                ticket, state, start, found = self._pending.pop(inner_ticket)
                self.store.put(state, start + len(found), new)
                out.append((ticket, found + new))
        return out

    def restart(self, seed: int) -> None:
        raise RuntimeError("a CachedBackend is built per stage; restart its inner backend")

    def close(self) -> None:
        self.store.close()
        self.inner.close()

    def __exit__(self, *exc) -> None:
        self.store.close()
        self.inner.__exit__(*exc)


def _with_n(params: GenParams, n: int) -> GenParams:
    return replace(params, n=n)


def cached(backend: PolicyBackend, folder: str | None, model: str) -> PolicyBackend:
    """`backend`, reading and storing its samples in `folder` when one is given."""
    if not folder:
        return backend
    return CachedBackend(backend, SampleStore(folder, model))
