"""Imports every domain's tables so the metadata (and Alembic) sees the whole schema."""

from townhall.channels.models import ChannelAccount, InboundEvent
from townhall.contacts.models import Contact, ContactIdentity
from townhall.conversations.models import Conversation, ConversationStatus, Message
from townhall.db import Base
from townhall.governance.models import (
    Agency,
    AuditEvent,
    Department,
    Organisation,
    Role,
    Team,
    User,
    UserSession,
)
from townhall.governance.tokens import ApiToken
from townhall.inbox.models import (
    Assignment,
    ConversationTag,
    InboxSettings,
    InternalNote,
    Notification,
    OutboxItem,
    UnderstandingCorrection,
)
from townhall.integrations.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from townhall.knowledge.models import AutoAnswer, KbAnswer
from townhall.routing.models import PolicyVersion, Queue, RoutingDecisionRecord

__all__ = [
    "Agency",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "AutoAnswer",
    "Base",
    "ChannelAccount",
    "Contact",
    "ContactIdentity",
    "Conversation",
    "ConversationStatus",
    "ConversationTag",
    "Department",
    "InboundEvent",
    "InboxSettings",
    "InternalNote",
    "KbAnswer",
    "Message",
    "Notification",
    "Organisation",
    "OutboxItem",
    "PolicyVersion",
    "Queue",
    "Role",
    "RoutingDecisionRecord",
    "Team",
    "UnderstandingCorrection",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
