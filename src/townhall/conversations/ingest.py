"""Ingest: store interchange items idempotently, merge contacts by handle and thread replies.

``store_items`` is the one function every entry point calls (files, connectors, webhooks).
It is idempotent on (platform, external_id): an item already stored is counted as a
duplicate and changes nothing. Replies join their parent's conversation; a reply whose
parent has not arrived yet opens a conversation keyed by the parent's id, which the parent
joins when it arrives (see ``_Threader``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from townhall.contacts.models import Contact, ContactIdentity
from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.conversations.schemas import InboundItem, IngestSummary
from townhall.core.time import ensure_aware, utcnow
from townhall.inbox.models import Assignment, InternalNote

_T = TypeVar("_T")
SUBJECT_LENGTH = 280
# Rows that point at a conversation and must follow it when two conversations merge.
CONVERSATION_CHILDREN: tuple[Any, ...] = (Message, InternalNote, Assignment)


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
    message_rows: list[dict[str, Any]] = field(default_factory=list)

    def take(self, item: InboundItem, contact_id: int | None, is_root: bool) -> None:
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


def _dm_key(item: InboundItem) -> str:
    return f"dm:{item.author.handle}"


def _thread_key_of_root(item: InboundItem) -> str:
    # Direct messages without an explicit parent continue the author's one DM thread.
    return _dm_key(item) if item.kind == "direct_message" else item.external_id


def _dedupe(items: Sequence[InboundItem]) -> tuple[list[InboundItem], int]:
    seen: set[tuple[str, str]] = set()
    unique: list[InboundItem] = []
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
    return {platform: sorted(values) for platform, values in grouped.items()}


def _existing_messages(
    session: Session, org_id: int, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(platform, external_id) -> conversation id of messages already stored."""
    found: dict[tuple[str, str], int] = {}
    for platform, ids in _by_platform(pairs).items():
        for chunk in _chunks(ids):
            rows = session.execute(
                select(Message.external_id, Message.conversation_id).where(
                    Message.org_id == org_id,
                    Message.platform == platform,
                    Message.external_id.in_(chunk),
                )
            )
            found.update({(platform, ext): conv for ext, conv in rows})
    return found


def _existing_conversations(
    session: Session, org_id: int, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for platform, keys in _by_platform(pairs).items():
        for chunk in _chunks(keys):
            rows = session.execute(
                select(Conversation.thread_key, Conversation.id).where(
                    Conversation.org_id == org_id,
                    Conversation.platform == platform,
                    Conversation.thread_key.in_(chunk),
                )
            )
            found.update({(platform, key): conv for key, conv in rows})
    return found


def _chunks(values: Sequence[_T], size: int = 500) -> Iterable[Sequence[_T]]:
    # Keeps IN lists under SQLite's bound-parameter limit.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def resolve_identities(
    session: Session, org_id: int, items: Sequence[InboundItem]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(platform, handle) -> (identity id, contact id), creating contacts for new handles."""
    authors: dict[tuple[str, str], InboundItem] = {}
    for item in items:
        authors.setdefault((item.platform, item.author.handle), item)
    resolved: dict[tuple[str, str], tuple[int, int]] = {}
    for platform, handles in _by_platform(authors).items():
        for chunk in _chunks(handles):
            rows = session.execute(
                select(
                    ContactIdentity.handle, ContactIdentity.id, ContactIdentity.contact_id
                ).where(
                    ContactIdentity.org_id == org_id,
                    ContactIdentity.platform == platform,
                    ContactIdentity.handle.in_(chunk),
                )
            )
            resolved.update({(platform, h): (i, c) for h, i, c in rows})
    missing = [key for key in authors if key not in resolved]
    if not missing:
        return resolved
    now = utcnow()
    contact_ids = session.scalars(
        insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
        [
            {
                "org_id": org_id,
                "display_name": authors[key].author.name or authors[key].author.handle,
                "followers": authors[key].author.followers,
                "tags": {},
                "created_at": now,
            }
            for key in missing
        ],
    ).all()
    identity_ids = session.scalars(
        insert(ContactIdentity).returning(ContactIdentity.id, sort_by_parameter_order=True),
        [
            {
                "org_id": org_id,
                "contact_id": contact_id,
                "platform": key[0],
                "handle": key[1],
                "name": authors[key].author.name,
                "followers": authors[key].author.followers,
                "created_at": now,
            }
            for key, contact_id in zip(missing, contact_ids, strict=True)
        ],
    ).all()
    for key, identity_id, contact_id in zip(missing, identity_ids, contact_ids, strict=True):
        resolved[key] = (identity_id, contact_id)
    return resolved


def merge_conversations(session: Session, source_id: int, target_id: int) -> None:
    """Move everything of ``source`` into ``target`` and delete ``source``."""
    for table in CONVERSATION_CHILDREN:
        session.execute(
            update(table)
            .where(table.conversation_id == source_id)
            .values(conversation_id=target_id)
        )
    source = session.get_one(Conversation, source_id)
    target = session.get_one(Conversation, target_id)
    target.message_count += source.message_count
    target.first_message_at = min(
        ensure_aware(target.first_message_at), ensure_aware(source.first_message_at)
    )
    target.last_message_at = max(
        ensure_aware(target.last_message_at), ensure_aware(source.last_message_at)
    )
    if target.contact_id is None:
        target.contact_id = source.contact_id
    session.flush()
    session.execute(delete(Conversation).where(Conversation.id == source_id))


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
        self.merged = 0
        # One query loads every stored conversation this batch can touch.
        ids = set(message_conversation.values()) | set(keyed.values())
        self.rows: dict[int, Conversation] = {}
        for chunk in _chunks(sorted(ids)):
            for row in session.scalars(select(Conversation).where(Conversation.id.in_(chunk))):
                self.rows[row.id] = row

    def _pending_for(self, conversation: int | _PendingConversation) -> _PendingConversation:
        if isinstance(conversation, _PendingConversation):
            return conversation
        if conversation not in self.stored:
            row = self.rows[conversation]
            self.stored[conversation] = _PendingConversation(
                platform=row.platform, thread_key=row.thread_key, id=conversation
            )
        return self.stored[conversation]

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
        for mapping in (self.keyed, self.message_conversation):
            for key, value in list(mapping.items()):
                if value is gone or (gone.id is not None and value == gone.id):
                    mapping[key] = survivor
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
        if gone.id is None:
            self.new.remove(gone)
        else:
            assert survivor.id is not None
            self.stored.pop(gone.id, None)
            merge_conversations(self.session, gone.id, survivor.id)
        return survivor

    def place(self, item: InboundItem) -> _PendingConversation:
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
        if self.new:
            ids = self.session.scalars(
                insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True),
                [
                    {
                        "org_id": self.org_id,
                        "platform": c.platform,
                        "thread_key": c.thread_key,
                        "contact_id": c.contact_id,
                        "status": ConversationStatus.NEW,
                        "priority": "normal",
                        "agency_allowed": False,
                        "restricted": False,
                        "subject": c.subject,
                        "message_count": c.added,
                        "first_message_at": c.first_message_at or now,
                        "last_message_at": c.last_message_at or now,
                        "created_at": now,
                    }
                    for c in self.new
                ],
            ).all()
            for conversation, new_id in zip(self.new, ids, strict=True):
                conversation.id = new_id
        rows: list[dict[str, Any]] = []
        for conversation in [*self.new, *self.stored.values()]:
            for row in conversation.message_rows:
                row["conversation_id"] = conversation.id
            rows.extend(conversation.message_rows)
        if rows:
            self.session.execute(insert(Message), rows)
        for pending in self.stored.values():
            self._update_stored(pending)
        return len(self.new)

    def _update_stored(self, pending: _PendingConversation) -> None:
        assert pending.id is not None
        stored = self.session.get_one(Conversation, pending.id)
        stored.message_count += pending.added
        if pending.first_message_at is not None:
            stored.first_message_at = min(
                ensure_aware(stored.first_message_at), pending.first_message_at
            )
        if pending.last_message_at is not None:
            stored.last_message_at = max(
                ensure_aware(stored.last_message_at), pending.last_message_at
            )
        if stored.contact_id is None:
            stored.contact_id = pending.contact_id
        if pending.root_seen:
            stored.subject = pending.subject
        stored.thread_key = pending.thread_key
        # A new inbound message reopens a conversation that was resolved or closed.
        if pending.inbound_added and stored.status in (
            ConversationStatus.RESOLVED,
            ConversationStatus.CLOSED,
        ):
            stored.status = ConversationStatus.OPEN
            stored.resolved_at = None


def _message_row(
    org_id: int, item: InboundItem, identity: tuple[int, int] | None, now: datetime
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "platform": item.platform,
        "external_id": item.external_id,
        "kind": item.kind,
        "direction": item.direction,
        "author_identity_id": identity[0] if identity else None,
        "author_handle": item.author.handle,
        "author_name": item.author.name,
        "text": item.text,
        "created_at": item.created_at,
        "in_reply_to": item.in_reply_to,
        "url": item.url,
        "raw": item.model_dump(mode="json"),
        "ingested_at": now,
    }


def _store_once(session: Session, org_id: int, items: Sequence[InboundItem]) -> IngestSummary:
    unique, repeated = _dedupe(items)
    stored = _existing_messages(session, org_id, ((i.platform, i.external_id) for i in unique))
    fresh = [i for i in unique if (i.platform, i.external_id) not in stored]
    summary = IngestSummary(duplicates=repeated + len(unique) - len(fresh))
    if not fresh:
        return summary
    # Parents first, so a reply that arrives in the same batch as its parent never waits.
    fresh.sort(key=lambda i: i.created_at)
    identities = resolve_identities(session, org_id, fresh)
    parents = _existing_messages(
        session, org_id, ((i.platform, i.in_reply_to) for i in fresh if i.in_reply_to)
    )
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
        identity = identities.get((item.platform, item.author.handle))
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
    """Store items idempotently inside the caller's transaction (which the caller commits).

    A concurrent writer can insert the same item between our check and our insert; the
    unique constraint then fails the savepoint and we look again, so nothing is stored twice.
    """
    for attempt in range(attempts):
        savepoint = session.begin_nested()
        try:
            summary = _store_once(session, org_id, items)
        except IntegrityError:
            savepoint.rollback()
            session.expire_all()
            if attempt == attempts - 1:
                raise
            continue
        savepoint.commit()
        return summary
    raise AssertionError("unreachable")


ProgressCallback = Callable[[int], None]
