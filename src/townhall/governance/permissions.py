"""Who may see what: the one place that turns a user's role into conversation visibility."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, not_, or_

from townhall.conversations.models import Conversation
from townhall.governance.models import Role, User

READ_ONLY_ROLES = frozenset({Role.EXECUTIVE})


def can_see_restricted_everywhere(user: User) -> bool:
    return user.role == Role.ADMIN


def conversation_visibility(user: User) -> ColumnElement[bool]:
    """A WHERE clause limiting conversations to those ``user`` may see.

    Agency staff see only what the ownership policy gives the agency and nothing restricted;
    restricted conversations (Risk, HR) are visible to their owner department and admins.
    """
    if not user.is_active:
        return false()
    same_org = Conversation.org_id == user.org_id
    if user.role == Role.ADMIN:
        return same_org
    # Plain boolean tests ("agency_allowed AND NOT restricted"), not IS TRUE / IS FALSE: the
    # columns are NOT NULL so the meaning is the same, but PostgreSQL's extended statistics
    # and partial indexes (migration 0006) only understand the plain form.
    if user.is_agency or user.role == Role.AGENCY_AGENT:
        return and_(same_org, Conversation.agency_allowed, not_(Conversation.restricted))
    own_department = (
        Conversation.owner_department_id == user.department_id
        if user.department_id is not None
        else false()
    )
    return and_(same_org, or_(not_(Conversation.restricted), own_department))


def can_act(user: User) -> bool:
    """Executives read dashboards; everyone else may act on what they can see."""
    return user.role not in READ_ONLY_ROLES
