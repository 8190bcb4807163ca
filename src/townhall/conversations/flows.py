"""Ingesting a whole file in committed batches, so a crash loses nothing already acknowledged."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from townhall.conversations.ingest import store_records
from townhall.conversations.read_worker import read_in_child
from townhall.conversations.readers import Batch, FileFormat, ParsedRow, batches
from townhall.conversations.schemas import IngestSummary, RowError

# Rows per transaction. Each commit rewrites every index page the batch touched, and new
# conversations land all over the inbox indexes (ordered by last activity), so a commit costs
# about the size of those indexes: at 100,000 items, batches of 10,000 wrote 320 MB on
# SQLite where batches of 2,000 wrote 840 MB. A kill loses at most one uncommitted batch,
# which a re-run stores (ingest is idempotent).
BATCH_SIZE = 10_000


@dataclass
class FileIngestResult:
    summary: IngestSummary = field(default_factory=IngestSummary)
    errors: list[RowError] = field(default_factory=list)


@contextmanager
def _young_collections_only() -> Iterator[None]:
    """Run the cyclic garbage collector between batches only, and only on young objects.

    A batch allocates tens of thousands of tuples and models that reference counting frees;
    left on, the collector ran hundreds of times per 30,000 items, each time also walking
    the long-lived objects (models, metadata, the next batch): about a sixth of ingest time.
    Collecting the young generations after every batch still frees any cycle a batch left.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _refresh_statistics(sessions: sessionmaker[Session]) -> None:
    """Let PostgreSQL's planner see the tables grow during a bulk import.

    Autovacuum analyses only every minute or so; until then the planner believes the tables
    are as small as when the import began and picks scans that get slower with every batch.
    Only the columns ingest's own look-ups filter on are analysed (the row counts are always
    refreshed): statistics of the long text columns cost most and ingest never needs them.
    A partial ANALYZE leaves autovacuum's count of changes alone, so it still analyses
    every column soon after.
    """
    with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "ANALYZE message (org_id, platform, external_id),"
                    " conversation (org_id, platform, thread_key),"
                    " contact_identity (org_id, platform, handle),"
                    " contact (org_id)"
                )
            )


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
    return _store_batches(
        sessions, org_id, batches(rows, batch_size), on_error=on_error, on_batch=on_batch
    )


def _store_batches(
    sessions: sessionmaker[Session],
    org_id: int,
    parsed: Iterable[Batch],
    *,
    on_error: Callable[[RowError], None] | None,
    on_batch: Callable[[IngestSummary], None] | None,
) -> FileIngestResult:
    result = FileIngestResult()
    with _young_collections_only():
        for number, (records, errors) in enumerate(parsed, start=1):
            for error in errors:
                result.errors.append(error)
                if on_error:
                    on_error(error)
            batch = IngestSummary(rejected=len(errors))
            if records:
                with sessions() as session, session.begin():
                    batch.add(store_records(session, org_id, records))
            # Counted only after the commit: what is reported is what is durable.
            result.summary.add(batch)
            if number & (number - 1) == 0:  # after batches 1, 2, 4, 8, ...
                _refresh_statistics(sessions)
            if on_batch:
                on_batch(batch)
            gc.collect(1)
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

    # Rows are read and validated in a second process while this one stores.
    parsed = read_in_child(path, file_format, batch_size)
    return _store_batches(sessions, org_id, parsed, on_error=report, on_batch=on_batch)
