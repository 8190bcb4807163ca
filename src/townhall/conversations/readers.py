"""Readers for interchange files: JSON Lines and CSV rows become items or line-numbered errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import ValidationError

from townhall.conversations.schemas import InboundItem, ItemRecord, RowError

FileFormat = Literal["jsonl", "csv"]
ParsedRow = tuple[int, InboundItem | RowError]
# Good rows as records, and the bad rows found among them.
Batch = tuple[list[ItemRecord], list[RowError]]
# An importer idles until the first batch arrives: a small one gets it storing sooner, and
# each next batch is twice as large (up to the size asked for), so a reader keeps ahead.
FIRST_BATCH = 1000


def validate_row(line: int, data: Any) -> InboundItem | RowError:
    """Check one decoded row against the interchange format; name the field that is wrong."""
    if not isinstance(data, dict):
        return RowError(line=line, field=None, reason="row is not a JSON object")
    try:
        return InboundItem.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        reason = first["msg"].removeprefix("Value error, ")
        extra = len(exc.errors()) - 1
        if extra:
            reason += f" (and {extra} more problem{'s' if extra > 1 else ''} in this row)"
        return RowError(line=line, field=field, reason=reason)


def read_jsonl(lines: Iterable[str | bytes]) -> Iterator[ParsedRow]:
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield (
                    number,
                    RowError(line=number, field=None, reason=f"not valid UTF-8 ({exc.reason})"),
                )
                continue
        else:
            line = raw
        if not line.strip():
            continue
        try:
            # pydantic-core parses and validates in one pass, about twice as fast as json.loads
            # then model_validate. A row it refuses (it accepts no row json.loads would refuse)
            # goes the long way below, so every error is reported exactly as before.
            item = InboundItem.model_validate_json(line)
        except ValidationError:
            pass
        else:
            yield number, item
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(line=number, field=None, reason=f"invalid JSON: {exc.msg}")
            continue
        yield number, validate_row(number, data)


CSV_AUTHOR_FIELDS = {
    "author_handle": "handle",
    "author_name": "name",
    "author_followers": "followers",
}


def _csv_row_to_item(row: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    author: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            continue
        key = key.strip()
        if value is None or value == "":
            continue
        if key in CSV_AUTHOR_FIELDS:
            author[CSV_AUTHOR_FIELDS[key]] = value
        else:
            data[key] = value
    if author:
        data["author"] = author
    return data


def read_csv(text_stream: io.TextIOBase | Iterable[str]) -> Iterator[ParsedRow]:
    reader = csv.DictReader(text_stream)
    header_missing = {"platform", "external_id", "author_handle", "text", "created_at"} - {
        (name or "").strip() for name in reader.fieldnames or []
    }
    if header_missing:
        yield (
            1,
            RowError(
                line=1,
                field=None,
                reason="CSV header lacks required column(s): " + ", ".join(sorted(header_missing)),
            ),
        )
        return
    for row in reader:
        # line_num counts physical lines, so rows with quoted newlines keep their true position.
        number = reader.line_num
        if None in row:
            yield (
                number,
                RowError(line=number, field=None, reason="row has more cells than the header"),
            )
            continue
        if any("\udc80" <= ch <= "\udcff" for value in row.values() if value for ch in value):
            yield number, RowError(line=number, field=None, reason="not valid UTF-8")
            continue
        yield number, validate_row(number, _csv_row_to_item(row))


def read_file(path: str, file_format: FileFormat | None = None) -> Iterator[ParsedRow]:
    fmt = file_format or ("csv" if path.lower().endswith(".csv") else "jsonl")
    if fmt == "csv":
        # surrogateescape keeps a bad byte local to its row instead of failing the whole file.
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
            yield from read_csv(text)
    else:
        with open(path, "rb") as binary:
            yield from read_jsonl(binary)


def batches(rows: Iterable[ParsedRow], size: int) -> Iterator[Batch]:
    """Rows in batches of up to ``size`` good ones, starting at FIRST_BATCH and doubling."""
    records: list[ItemRecord] = []
    errors: list[RowError] = []
    wanted = min(size, FIRST_BATCH)
    for _line, parsed in rows:
        if isinstance(parsed, RowError):
            errors.append(parsed)
            continue
        records.append(parsed.record())
        if len(records) >= wanted:
            yield records, errors
            records, errors = [], []
            wanted = min(size, 2 * wanted)
    if records or errors:
        yield records, errors
