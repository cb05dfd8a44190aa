"""Test helpers: a synchronous stand-in for aaad.db.Database."""
from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

from aaad.db import CHANGES, begin_tx

T = TypeVar("T")


def result_of(d: defer.Deferred[T]) -> T:
    """The result of an already-fired Deferred; re-raise its failure."""
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "Deferred has not fired"
    if isinstance(box[0], Failure):
        box[0].raiseException()
    return box[0]


class SyncDB:
    """Runs reads and writes at once on an engine; returns fired Deferreds.

    Writes run each in its own transaction, like a writer batch of one, and
    like the writer hand the transaction's AAA changes to ``writer.on_changes``
    after commit, before the Deferred fires.
    """

    def __init__(self, engine: Any):
        self.engine = engine
        self.read_engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.handlers: dict[str, Callable] = {}
        self.writer = SimpleNamespace(on_changes=[])

    def read(self, fn: Callable, *a: Any, **kw: Any) -> defer.Deferred:
        try:
            with self.engine.connect() as conn:
                return defer.succeed(fn(conn, *a, **kw))
        except Exception:
            return defer.fail()

    def write(self, fn: Callable, *a: Any, **kw: Any) -> defer.Deferred:
        try:
            with self.engine.begin() as conn:
                notes = begin_tx(conn)
                result = fn(conn, *a, **kw)
            for cb in self.writer.on_changes:
                if notes.get(CHANGES):
                    cb(notes[CHANGES])
            return defer.succeed(result)
        except Exception:
            return defer.fail()

    def write_background(self, fn: Callable, *a: Any) -> defer.Deferred:
        return self.write(fn, *a)
