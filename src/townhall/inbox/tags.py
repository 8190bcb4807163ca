"""Conversation tags: short labels people add to find and count conversations later."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from townhall.conversations.models import Conversation
from townhall.core.errors import ValidationFailed
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.governance.models import User
from townhall.inbox.actions import check_can_act
from townhall.inbox.models import ConversationTag

MAX_TAG_CHARS = 64
TAG = re.compile(r"^[a-z0-9][a-z0-9 _.-]*$")


def check_tag(text: str) -> str:
    """The tag as stored (trimmed, lower case) or ValidationFailed naming what is wrong."""
    tag = " ".join(text.split()).lower()
    if not tag:
        raise ValidationFailed("tag", "the tag is empty")
    if len(tag) > MAX_TAG_CHARS:
        raise ValidationFailed("tag", f"a tag has at most {MAX_TAG_CHARS} characters")
    if not TAG.match(tag):
        raise ValidationFailed(
            "tag", "use letters, digits, spaces, '-', '_' or '.', starting with a letter or digit"
        )
    return tag


def tags_for(session: Session, conversation_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ConversationTag.tag)
            .where(ConversationTag.conversation_id == conversation_id)
            .order_by(ConversationTag.tag)
        )
    )


def add_system_tags(session: Session, org_id: int, tags: Mapping[int, Iterable[str]]) -> int:
    """Tag conversations on the system's behalf (routing rules, SLA breaches); returns rows added.

    The same table as the tags people add, so one search and one count serve both; a tag a
    conversation already has is left alone.
    """
    wanted = {
        (conversation_id, " ".join(tag.split()).lower()[:MAX_TAG_CHARS])
        for conversation_id, names in tags.items()
        for tag in names
        if tag.strip()
    }
    if not wanted:
        return 0
    have = {
        (conversation_id, tag)
        for conversation_id, tag in session.execute(
            select(ConversationTag.conversation_id, ConversationTag.tag).where(
                ConversationTag.conversation_id.in_({c for c, _ in wanted})
            )
        )
    }
    now = utcnow()
    missing = sorted(wanted - have)
    session.add_all(
        ConversationTag(org_id=org_id, conversation_id=c, tag=tag, created_at=now)
        for c, tag in missing
    )
    session.flush()
    return len(missing)


def do_add_tag(
    session: Session, conversation: Conversation, tag: str, acting_user: User
) -> ConversationTag:
    check_can_act(acting_user)
    tag = check_tag(tag)
    existing = session.scalar(
        select(ConversationTag).where(
            ConversationTag.conversation_id == conversation.id, ConversationTag.tag == tag
        )
    )
    if existing is not None:
        raise ValidationFailed("tag", f"the conversation is already tagged {tag!r}")
    row = ConversationTag(
        org_id=conversation.org_id,
        conversation_id=conversation.id,
        tag=tag,
        added_by_id=acting_user.id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        org_id=conversation.org_id,
        actor=acting_user,
        action="conversation.tag",
        object_type="conversation",
        object_id=conversation.id,
        after={"tag": tag},
    )
    return row
