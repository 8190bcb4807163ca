"""The file reader process of an import: same rows and errors as reading in-process, failures raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from townhall.conversations import read_worker
from townhall.conversations.readers import read_file
from townhall.conversations.schemas import RowError


def _row(external_id: str, **fields: object) -> str:
    row = {
        "platform": "x",
        "external_id": external_id,
        "author": {"handle": f"@User{external_id}", "name": "A"},
        "text": f"message {external_id}",
        "created_at": "2026-11-01T10:00:00+02:00",
        **fields,
    }
    return json.dumps(row)


def test_the_child_sends_what_reading_in_process_finds(tmp_path: Path) -> None:
    lines = [_row(str(i)) for i in range(5500)]
    lines[3] = "{not json"
    lines[1200] = _row("1200", created_at="2026-11-01T10:00:00")  # no time zone
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(lines) + "\n")

    batches = list(read_worker.read_in_child(str(path), None, 2500))

    # A small first batch starts the importer sooner; the next ones grow to the size asked for.
    assert [len(records) for records, _ in batches] == [1000, 2000, 2498]
    records = [record for batch, _ in batches for record in batch]
    errors = [error for _, batch_errors in batches for error in batch_errors]
    expected = list(read_file(str(path)))
    good = [parsed.record() for _, parsed in expected if not isinstance(parsed, RowError)]
    assert records == good
    assert records[0].handle == "user0" and records[0].created_at.utcoffset() is not None
    assert [(e.line, e.field) for e in errors] == [(4, None), (1201, "created_at")]


def test_a_reader_that_dies_is_reported_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(_row("1") + "\n")
    # A child that fails at once, as a real one would on an unexpected error.
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\necho 'Traceback ...' >&2\necho 'OSError: disk went away' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(read_worker.sys, "executable", str(fake))
    with pytest.raises(
        RuntimeError, match=r"reading .*items\.jsonl failed: OSError: disk went away"
    ):
        list(read_worker.read_in_child(str(path), None, 10))


def test_a_missing_file_fails_before_any_child_starts(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_worker.read_in_child(str(tmp_path / "absent.jsonl"), None, 10))


def test_an_importer_that_stops_early_stops_the_child(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(_row(str(i)) for i in range(5000)) + "\n")
    batches = read_worker.read_in_child(str(path), None, 100)
    first, _ = next(batches)
    assert len(first) == 100
    batches.close()  # what a failed commit does to the import loop; must not hang
