"""The status state machine as plain data."""

from __future__ import annotations

import pytest

from townhall.conversations.models import ConversationStatus as S
from townhall.core.errors import ValidationFailed
from townhall.inbox.workflow import TRANSITIONS, allowed_next, check_transition, is_reopening

LEGAL = [
    ("new", "open"),
    ("new", "closed"),
    ("open", "pending_customer"),
    ("pending_customer", "open"),
    ("pending_customer", "resolved"),
    ("open", "resolved"),
    ("resolved", "closed"),
    ("resolved", "open"),
    ("closed", "open"),
]
ILLEGAL = [
    ("closed", "resolved"),
    ("closed", "pending_customer"),
    ("resolved", "pending_customer"),
    ("open", "new"),
    ("closed", "new"),
]


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_allowed_transitions(source: str, target: str) -> None:
    assert check_transition(source, target) == S(target)


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transitions_say_what_is_allowed(source: str, target: str) -> None:
    with pytest.raises(ValidationFailed, match="allowed:"):
        check_transition(source, target)


def test_same_status_and_unknown_status_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="already open"):
        check_transition("open", "open")
    with pytest.raises(ValidationFailed, match="unknown status"):
        check_transition("open", "archived")


def test_nothing_goes_back_to_new_and_everything_can_reach_closed() -> None:
    for source, targets in TRANSITIONS.items():
        assert S.NEW not in targets
        assert source == S.CLOSED or S.CLOSED in targets
    assert allowed_next("closed") == [S.OPEN]
    assert is_reopening("resolved", "open") and is_reopening("closed", "open")
    assert not is_reopening("pending_customer", "open")
