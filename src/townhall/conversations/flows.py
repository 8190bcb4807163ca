"""Ingesting a whole file in committed batches, so a crash loses nothing already acknowledged."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO, TypeVar, cast

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.ingest import store_items
from townhall.conversations.readers import FileFormat, ParsedRow, read_file
from townhall.conversations.schemas import InboundItem, IngestSummary, RowError

BATCH_SIZE = 2000
_T = TypeVar("_T")


@dataclass
class FileIngestResult:
    summary: IngestSummary = field(default_factory=IngestSummary)
    errors: list[RowError] = field(default_factory=list)


def _batches(
    rows: Iterable[ParsedRow], size: int
) -> Iterator[tuple[list[InboundItem], list[RowError]]]:
    items: list[InboundItem] = []
    errors: list[RowError] = []
    for _line, parsed in rows:
        if isinstance(parsed, RowError):
            errors.append(parsed)
        else:
            items.append(parsed)
        if len(items) >= size:
            yield items, errors
            items, errors = [], []
    if items or errors:
        yield items, errors


def _read_ahead(batches: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """Yield ``batches`` while a thread already parses and validates the next one.

    Parsing is Python work and storing mostly waits for the database, which releases the
    GIL: overlapping the two keeps both busy. Nothing is counted or reported any earlier
    (that still happens after each commit, in order), so a crash loses no more than before.
    """
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(more: bool, value: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put((more, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(True, batch):
                    return
            offer(False, None)
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(False, error)

    thread = threading.Thread(target=produce, name="townhall-ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            more, value = handoff.get()
            if not more:
                if isinstance(value, BaseException):
                    raise value
                return
            yield cast(_T, value)
    finally:
        # The consumer stopped early (an error, or a closed generator): let the reader end.
        stop.set()
        thread.join()


def _refresh_statistics(sessions: sessionmaker[Session]) -> None:
    """Let PostgreSQL's planner see the tables grow during a bulk import.

    Autovacuum analyses only every minute or so; until then the planner believes the tables
    are as small as when the import began and picks scans that get slower with every batch.
    """
    with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE message, conversation, contact_identity, contact"))


def ingest_rows(
    sessions: sessionmaker[Session],
    org_id: int,
    rows: Iterable[ParsedRow],
    *,
    batch_size: int = BATCH_SIZE,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[IngestSummary], None] | None = None,
) -> FileIngestResult:
    """Store good rows batch by batch (one transaction each) and report every bad row."""
    result = FileIngestResult()
    for number, (items, errors) in enumerate(_read_ahead(_batches(rows, batch_size)), start=1):
        for error in errors:
            result.errors.append(error)
            if on_error:
                on_error(error)
        batch = IngestSummary(rejected=len(errors))
        if items:
            with sessions() as session, session.begin():
                batch.add(store_items(session, org_id, items))
        # Counted only after the commit: what is reported is what is durable.
        result.summary.add(batch)
        if number & (number - 1) == 0:  # after batches 1, 2, 4, 8, ...
            _refresh_statistics(sessions)
        if on_batch:
            on_batch(batch)
    return result


def ingest_file(
    sessions: sessionmaker[Session],
    org_id: int,
    path: str,
    file_format: FileFormat | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    errors_out: TextIO | None = None,
    on_error: Callable[[RowError], None] | None = None,
    on_batch: Callable[[IngestSummary], None] | None = None,
) -> FileIngestResult:
    def report(error: RowError) -> None:
        if errors_out is not None:
            errors_out.write(json.dumps(error.model_dump()) + "\n")
        if on_error:
            on_error(error)

    return ingest_rows(
        sessions,
        org_id,
        read_file(path, file_format),
        batch_size=batch_size,
        on_error=report,
        on_batch=on_batch,
    )
