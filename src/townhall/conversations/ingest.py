"""Ingest: store interchange items idempotently, merge contacts by handle and thread replies.

``store_records`` is the one function every entry point ends in: file imports send it records
validated in a second process, and connectors, webhooks and the API call ``store_items``.
It is idempotent on (platform, external_id): an item already stored is counted as a
duplicate and changes nothing. Replies join their parent's conversation; a reply whose
parent has not arrived yet opens a conversation keyed by the parent's id, which the parent
joins when it arrives (see ``_Threader``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVarTuple, cast

from sqlalchemy import (
    Result,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact, ContactIdentity
from townhall.conversations.bulk import any_of, insert_rows, reserve_ids
from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.conversations.schemas import InboundItem, IngestSummary, ItemRecord
from townhall.core.time import utcnow
from townhall.db import Base
from townhall.inbox.models import Assignment, InternalNote, Notification, OutboxItem
from townhall.routing.models import RoutingDecisionRecord


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


SUBJECT_LENGTH = 280
# Rows that point at a conversation and must follow it when two conversations merge.
CONVERSATION_CHILDREN: tuple[Any, ...] = (
    Message,
    InternalNote,
    Assignment,
    RoutingDecisionRecord,
    Notification,
    OutboxItem,
)


@dataclass
class _PendingConversation:
    """A conversation to create or update in this batch."""

    platform: str
    thread_key: str
    id: int | None = None
    contact_id: int | None = None
    subject: str = ""
    first_message_at: datetime | None = None
    last_message_at: datetime | None = None
    added: int = 0
    inbound_added: bool = False
    root_seen: bool = False
    # Message rows in MESSAGE_COLUMNS order, without the conversation id (known at flush).
    message_rows: list[tuple[Any, ...]] = field(default_factory=list)
    # Set when this conversation was folded into another during the batch.
    merged_into: _PendingConversation | None = None

    def current(self) -> _PendingConversation:
        conversation = self
        while conversation.merged_into is not None:
            conversation = conversation.merged_into
        return conversation

    def take(self, item: ItemRecord, contact_id: int | None, is_root: bool) -> None:
        self.added += 1
        at = item.created_at
        self.first_message_at = (
            at if self.first_message_at is None else min(self.first_message_at, at)
        )
        self.last_message_at = at if self.last_message_at is None else max(self.last_message_at, at)
        if item.direction == "inbound":
            self.inbound_added = True
            if self.contact_id is None:
                self.contact_id = contact_id
        if is_root:
            self.root_seen = True
            self.subject = item.text[:SUBJECT_LENGTH]
        elif not self.subject:
            self.subject = item.text[:SUBJECT_LENGTH]


def _dm_key(item: ItemRecord) -> str:
    return f"dm:{item.handle}"


def _thread_key_of_root(item: ItemRecord) -> str:
    # Direct messages without an explicit parent continue the author's one DM thread.
    return _dm_key(item) if item.kind == "direct_message" else item.external_id


def _dedupe(items: Sequence[ItemRecord]) -> tuple[list[ItemRecord], int]:
    seen: set[tuple[str, str]] = set()
    unique: list[ItemRecord] = []
    for item in items:
        key = (item.platform, item.external_id)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique, len(items) - len(unique)


def _by_platform(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for platform, value in pairs:
        grouped[platform].add(value)
    return {platform: list(values) for platform, values in grouped.items()}


_Row = TypeVarTuple("_Row")


def _read(session: Session, statement: Select[*_Row]) -> Result[*_Row]:
    """Run a look-up on the session's connection, past the ORM.

    Ingest's look-ups read plain columns; the ORM's result handling cost more than the
    queries themselves (about a tenth of an import's time).
    """
    return session.connection().execute(statement)


def _existing_messages(
    session: Session, org_id: int, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(platform, external_id) -> conversation id of messages already stored."""
    found: dict[tuple[str, str], int] = {}
    for platform, ids in _by_platform(pairs).items():
        rows = _read(
            session,
            select(Message.external_id, Message.conversation_id).where(
                Message.org_id == org_id,
                Message.platform == platform,
                any_of(session, Message.external_id, ids),
            ),
        )
        found.update({(platform, ext): conv for ext, conv in rows})
    return found


def _existing_conversations(
    session: Session, org_id: int, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for platform, keys in _by_platform(pairs).items():
        rows = _read(
            session,
            select(Conversation.thread_key, Conversation.id).where(
                Conversation.org_id == org_id,
                Conversation.platform == platform,
                any_of(session, Conversation.thread_key, keys),
            ),
        )
        found.update({(platform, key): conv for key, conv in rows})
    return found


def resolve_identities(
    session: Session, org_id: int, items: Sequence[ItemRecord]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(platform, handle) -> (identity id, contact id), creating contacts for new handles."""
    authors: dict[tuple[str, str], ItemRecord] = {}
    for item in items:
        authors.setdefault((item.platform, item.handle), item)
    resolved: dict[tuple[str, str], tuple[int, int]] = {}
    for platform, handles in _by_platform(authors).items():
        rows = _read(
            session,
            select(ContactIdentity.handle, ContactIdentity.id, ContactIdentity.contact_id).where(
                ContactIdentity.org_id == org_id,
                ContactIdentity.platform == platform,
                any_of(session, ContactIdentity.handle, handles),
            ),
        )
        resolved.update({(platform, h): (i, c) for h, i, c in rows})
    missing = [key for key in authors if key not in resolved]
    if not missing:
        return resolved
    now = utcnow()
    contacts = _table(Contact)
    identities = _table(ContactIdentity)
    # Ids are reserved up front, so each identity knows its contact without matching rows back.
    contact_ids = reserve_ids(session, contacts, len(missing))
    identity_ids = reserve_ids(session, identities, len(missing))
    insert_rows(
        session,
        contacts,
        CONTACT_COLUMNS,
        [
            (
                contact_id,
                org_id,
                authors[key].name or authors[key].handle,
                authors[key].followers,
                "{}",
                "none",
                False,
                False,
                False,
                now,
            )
            for key, contact_id in zip(missing, contact_ids, strict=True)
        ],
    )
    insert_rows(
        session,
        identities,
        IDENTITY_COLUMNS,
        [
            (
                identity_id,
                org_id,
                contact_id,
                key[0],
                key[1],
                authors[key].name,
                authors[key].followers,
                now,
            )
            for key, contact_id, identity_id in zip(missing, contact_ids, identity_ids, strict=True)
        ],
    )
    for key, contact_id, identity_id in zip(missing, contact_ids, identity_ids, strict=True):
        resolved[key] = (identity_id, contact_id)
    return resolved


def merge_conversations(session: Session, source_id: int, target_id: int) -> None:
    """Move everything of ``source`` into ``target`` and delete ``source``."""
    source = session.execute(
        select(
            Conversation.message_count,
            Conversation.first_message_at,
            Conversation.last_message_at,
            Conversation.contact_id,
        ).where(Conversation.id == source_id)
    ).one()
    for table in CONVERSATION_CHILDREN:
        session.execute(
            update(table)
            .where(table.conversation_id == source_id)
            .values(conversation_id=target_id)
        )
    session.execute(delete(Conversation).where(Conversation.id == source_id))
    session.execute(
        update(Conversation)
        .where(Conversation.id == target_id)
        .values(
            message_count=Conversation.message_count + source.message_count,
            first_message_at=case(
                (Conversation.first_message_at > source.first_message_at, source.first_message_at),
                else_=Conversation.first_message_at,
            ),
            last_message_at=case(
                (Conversation.last_message_at < source.last_message_at, source.last_message_at),
                else_=Conversation.last_message_at,
            ),
            contact_id=func.coalesce(Conversation.contact_id, source.contact_id),
        )
    )


class _Threader:
    """Decides each new item's conversation inside one batch, in arrival order."""

    def __init__(
        self,
        session: Session,
        org_id: int,
        message_conversation: dict[tuple[str, str], int],
        keyed: dict[tuple[str, str], int],
    ) -> None:
        self.session = session
        self.org_id = org_id
        # (platform, external_id) of stored or batch messages -> their conversation.
        self.message_conversation: dict[tuple[str, str], int | _PendingConversation] = dict(
            message_conversation
        )
        # (platform, thread_key) -> conversation (stored id or a pending new one).
        self.keyed: dict[tuple[str, str], int | _PendingConversation] = dict(keyed)
        self.stored: dict[int, _PendingConversation] = {}  # stored conversations touched
        self.new: list[_PendingConversation] = []
        self.merged_stored: list[_PendingConversation] = []
        self.merged = 0
        # One query reads every stored conversation this batch can touch.
        ids = set(message_conversation.values()) | set(keyed.values())
        self.rows: dict[int, tuple[str, str]] = {}
        if ids:
            rows = _read(
                session,
                select(Conversation.id, Conversation.platform, Conversation.thread_key).where(
                    any_of(session, Conversation.id, sorted(ids))
                ),
            )
            self.rows.update({row_id: (platform, key) for row_id, platform, key in rows})

    def _pending_for(self, conversation: int | _PendingConversation) -> _PendingConversation:
        if isinstance(conversation, _PendingConversation):
            return conversation.current()
        if conversation not in self.stored:
            platform, key = self.rows[conversation]
            self.stored[conversation] = _PendingConversation(
                platform=platform, thread_key=key, id=conversation
            )
        return self.stored[conversation].current()

    def _new(self, platform: str, key: str) -> _PendingConversation:
        conversation = _PendingConversation(platform=platform, thread_key=key)
        self.new.append(conversation)
        self.keyed[(platform, key)] = conversation
        return conversation

    def _rekey(self, conversation: _PendingConversation, platform: str, key: str) -> None:
        self.keyed.pop((platform, conversation.thread_key), None)
        conversation.thread_key = key
        self.keyed[(platform, key)] = conversation

    def _merge(
        self, waiting: _PendingConversation, found: _PendingConversation
    ) -> _PendingConversation:
        """Fold the conversation that waited for a parent into the one the parent belongs to.

        The result keeps ``found``'s thread key. A stored conversation always survives a new
        one, so notes and assignments never move without need.
        """
        self.merged += 1
        platform = found.platform
        if found.id is None and waiting.id is not None:
            survivor, gone = waiting, found
            self.keyed.pop((platform, waiting.thread_key), None)
            survivor.thread_key = found.thread_key
        else:
            survivor, gone = found, waiting
        # Lookups resolve through merged_into, so no map needs rewriting (O(1) per merge).
        gone.merged_into = survivor
        self.keyed.pop((platform, gone.thread_key), None)
        self.keyed[(platform, survivor.thread_key)] = survivor
        survivor.message_rows.extend(gone.message_rows)
        survivor.added += gone.added
        survivor.inbound_added |= gone.inbound_added
        survivor.root_seen |= gone.root_seen
        if gone.root_seen:
            survivor.subject = gone.subject
        for moment in (gone.first_message_at, gone.last_message_at):
            if moment is not None:
                survivor.first_message_at = min(survivor.first_message_at or moment, moment)
                survivor.last_message_at = max(survivor.last_message_at or moment, moment)
        if survivor.contact_id is None:
            survivor.contact_id = gone.contact_id
        gone.message_rows = []
        if gone.id is not None:
            assert survivor.id is not None
            self.merged_stored.append(gone)
            merge_conversations(self.session, gone.id, survivor.id)
        return survivor

    def place(self, item: ItemRecord) -> _PendingConversation:
        platform = item.platform
        waiting_value = self.keyed.get((platform, item.external_id))
        waiting = self._pending_for(waiting_value) if waiting_value is not None else None
        parent_value = (
            self.message_conversation.get((platform, item.in_reply_to))
            if item.in_reply_to
            else None
        )
        if parent_value is not None:
            conversation = self._pending_for(parent_value)
            if waiting is not None and waiting is not conversation:
                conversation = self._merge(waiting, conversation)
        elif item.in_reply_to:
            # Parent unknown: wait under the parent's id, together with its other replies.
            sibling_value = self.keyed.get((platform, item.in_reply_to))
            sibling = self._pending_for(sibling_value) if sibling_value is not None else None
            if waiting is not None and sibling is not None and waiting is not sibling:
                conversation = self._merge(waiting, sibling)
            elif waiting is not None:
                self._rekey(waiting, platform, item.in_reply_to)
                conversation = waiting
            elif sibling is not None:
                conversation = sibling
            else:
                conversation = self._new(platform, item.in_reply_to)
        elif waiting is not None:
            conversation = waiting
        else:
            key = _thread_key_of_root(item)
            existing = self.keyed.get((platform, key))
            conversation = (
                self._pending_for(existing) if existing is not None else self._new(platform, key)
            )
        self.message_conversation[(platform, item.external_id)] = conversation
        return conversation

    def flush(self) -> int:
        """Write the batch's conversations and messages; returns conversations created."""
        now = utcnow()
        new = [c for c in self.new if c.merged_into is None]
        stored = [c for c in self.stored.values() if c.merged_into is None]
        if new:
            table = _table(Conversation)
            for conversation, new_id in zip(
                new, reserve_ids(self.session, table, len(new)), strict=True
            ):
                conversation.id = new_id
            insert_rows(
                self.session,
                table,
                CONVERSATION_COLUMNS,
                [
                    (
                        c.id,
                        self.org_id,
                        c.platform,
                        c.thread_key,
                        c.contact_id,
                        ConversationStatus.NEW.value,
                        "normal",
                        False,
                        False,
                        c.subject,
                        c.added,
                        c.first_message_at or now,
                        c.last_message_at or now,
                        now,
                    )
                    for c in new
                ],
            )
        rows = [
            (conversation.id, *row)
            for conversation in [*new, *stored]
            for row in conversation.message_rows
        ]
        insert_rows(self.session, _table(Message), ("conversation_id", *MESSAGE_COLUMNS), rows)
        changed = [c for c in stored if c.added]
        if changed:
            self.session.execute(_UPDATE_STORED, [_stored_params(c) for c in changed])
        return len(new)


# One executemany for every stored conversation a batch touched: counts add up in SQL, and a
# new inbound message reopens a conversation that was resolved, closed or waiting for the
# customer. Reopening a resolved or closed one also clears its resolution time, as a person
# reopening it does, so its resolution clock runs again and reports stop counting it resolved.
_CONVERSATION = _table(Conversation)
_FINISHED = or_(
    _CONVERSATION.c.status == ConversationStatus.RESOLVED.value,
    _CONVERSATION.c.status == ConversationStatus.CLOSED.value,
)
_UPDATE_STORED = (
    update(_CONVERSATION)
    .where(_CONVERSATION.c.id == bindparam("b_id"))
    .values(
        message_count=_CONVERSATION.c.message_count + bindparam("b_added"),
        first_message_at=case(
            (_CONVERSATION.c.first_message_at > bindparam("b_first"), bindparam("b_first")),
            else_=_CONVERSATION.c.first_message_at,
        ),
        last_message_at=case(
            (_CONVERSATION.c.last_message_at < bindparam("b_last"), bindparam("b_last")),
            else_=_CONVERSATION.c.last_message_at,
        ),
        contact_id=func.coalesce(_CONVERSATION.c.contact_id, bindparam("b_contact")),
        subject=case(
            (bindparam("b_root_seen"), bindparam("b_subject")),
            else_=_CONVERSATION.c.subject,
        ),
        thread_key=bindparam("b_thread_key"),
        # Both read the row as it was before this update (SQL's rule for SET).
        status=case(
            (
                and_(
                    bindparam("b_inbound"),
                    or_(
                        _FINISHED,
                        _CONVERSATION.c.status == ConversationStatus.PENDING_CUSTOMER.value,
                    ),
                ),
                ConversationStatus.OPEN.value,
            ),
            else_=_CONVERSATION.c.status,
        ),
        resolved_at=case(
            (and_(bindparam("b_inbound"), _FINISHED), None),
            else_=_CONVERSATION.c.resolved_at,
        ),
    )
)


def _stored_params(c: _PendingConversation) -> dict[str, Any]:
    return {
        "b_id": c.id,
        "b_added": c.added,
        "b_first": c.first_message_at,
        "b_last": c.last_message_at,
        "b_contact": c.contact_id,
        "b_root_seen": c.root_seen,
        "b_subject": c.subject,
        "b_thread_key": c.thread_key,
        "b_inbound": c.inbound_added,
    }


CONTACT_COLUMNS = (
    "id",
    "org_id",
    "display_name",
    "followers",
    "tags",
    "lead_status",
    "is_journalist",
    "is_vip",
    "is_employee",
    "created_at",
)
IDENTITY_COLUMNS = (
    "id",
    "org_id",
    "contact_id",
    "platform",
    "handle",
    "name",
    "followers",
    "created_at",
)
CONVERSATION_COLUMNS = (
    "id",
    "org_id",
    "platform",
    "thread_key",
    "contact_id",
    "status",
    "priority",
    "agency_allowed",
    "restricted",
    "subject",
    "message_count",
    "first_message_at",
    "last_message_at",
    "created_at",
)
MESSAGE_COLUMNS = (
    "org_id",
    "platform",
    "external_id",
    "kind",
    "direction",
    "author_identity_id",
    "author_handle",
    "author_name",
    "text",
    "created_at",
    "in_reply_to",
    "url",
    "raw",
    "ingested_at",
)


def _message_row(
    org_id: int, item: ItemRecord, identity: tuple[int, int] | None, now: datetime
) -> tuple[Any, ...]:
    """One message in MESSAGE_COLUMNS order."""
    return (
        org_id,
        item.platform,
        item.external_id,
        item.kind,
        item.direction,
        identity[0] if identity else None,
        item.handle,
        item.name,
        item.text,
        item.created_at,
        item.in_reply_to,
        item.url,
        item.raw,
        now,
    )


def _store_once(session: Session, org_id: int, items: Sequence[ItemRecord]) -> IngestSummary:
    unique, repeated = _dedupe(items)
    # One look-up answers both questions: which items are stored, and where stored parents are.
    replied_to = {(i.platform, i.in_reply_to) for i in unique if i.in_reply_to}
    found = _existing_messages(
        session, org_id, [*((i.platform, i.external_id) for i in unique), *replied_to]
    )
    fresh = [i for i in unique if (i.platform, i.external_id) not in found]
    summary = IngestSummary(duplicates=repeated + len(unique) - len(fresh))
    if not fresh:
        return summary
    # Parents first, so a reply that arrives in the same batch as its parent never waits.
    fresh.sort(key=lambda i: i.created_at)
    identities = resolve_identities(session, org_id, fresh)
    parents = {key: found[key] for key in replied_to if key in found}
    keys: set[tuple[str, str]] = set()
    for item in fresh:
        keys.add((item.platform, item.external_id))
        keys.add((item.platform, _thread_key_of_root(item)))
        if item.in_reply_to:
            keys.add((item.platform, item.in_reply_to))
    threader = _Threader(session, org_id, parents, _existing_conversations(session, org_id, keys))
    now = utcnow()
    for item in fresh:
        conversation = threader.place(item)
        identity = identities.get((item.platform, item.handle))
        conversation.take(
            item,
            identity[1] if identity and item.direction == "inbound" else None,
            is_root=item.in_reply_to is None,
        )
        conversation.message_rows.append(_message_row(org_id, item, identity, now))
    summary.conversations_created = threader.flush()
    summary.conversations_merged = threader.merged
    summary.ingested = len(fresh)
    session.flush()
    return summary


def store_items(
    session: Session, org_id: int, items: Sequence[InboundItem], *, attempts: int = 3
) -> IngestSummary:
    """Store validated items (connectors, webhooks, the API); see ``store_records``."""
    return store_records(session, org_id, [item.record() for item in items], attempts=attempts)


def store_records(
    session: Session, org_id: int, records: Sequence[ItemRecord], *, attempts: int = 3
) -> IngestSummary:
    """Store items idempotently inside the caller's transaction (which the caller commits).

    A concurrent writer can insert the same item between our check and our insert; the
    unique constraint then fails the savepoint and we look again, so nothing is stored twice.
    """
    for attempt in range(attempts):
        savepoint = session.begin_nested()
        try:
            summary = _store_once(session, org_id, records)
        except IntegrityError:
            savepoint.rollback()
            session.expire_all()
            if attempt == attempts - 1:
                raise
            continue
        savepoint.commit()
        return summary
    raise AssertionError("unreachable")
