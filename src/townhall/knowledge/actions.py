"""Writes for the knowledge base: create, edit, deactivate and reactivate answers (audited)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from townhall.core.errors import Forbidden, TownhallError, ValidationFailed
from townhall.core.time import utcnow
from townhall.governance import audit
from townhall.governance.models import Role, User
from townhall.knowledge.models import KbAnswer

MAX_TITLE_CHARS = 200
MAX_ANSWER_CHARS = 2000
MAX_EXAMPLE_CHARS = 300
MAX_EXAMPLES = 50
# Fewer examples and the matcher guesses; two is the least that says what the answer is for.
MIN_EXAMPLES = 2
LANGUAGE = re.compile(r"^[a-z]{2}$")


class KbAnswerInvalid(TownhallError):
    """Every field that is wrong, with what is wrong with it, for the form to show per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class KbAnswerInput:
    """An answer as typed into the form: examples one per line."""

    title: str = ""
    answer: str = ""
    examples: list[str] = field(default_factory=list)
    language: str | None = None

    @classmethod
    def from_form(cls, title: str, answer: str, examples: str, language: str) -> KbAnswerInput:
        lines = [line.strip() for line in examples.splitlines()]
        return cls(
            title=title.strip(),
            answer=answer.strip(),
            examples=list(dict.fromkeys(line for line in lines if line)),
            language=language.strip().lower() or None,
        )


def check_kb_answer(data: KbAnswerInput) -> dict[str, str]:
    """What is wrong with each field (empty when the answer may be saved)."""
    errors: dict[str, str] = {}
    if not data.title:
        errors["title"] = "give the answer a title"
    elif len(data.title) > MAX_TITLE_CHARS:
        errors["title"] = f"at most {MAX_TITLE_CHARS} characters"
    if not data.answer:
        errors["answer"] = "write the answer customers will receive"
    elif len(data.answer) > MAX_ANSWER_CHARS:
        errors["answer"] = f"at most {MAX_ANSWER_CHARS} characters (replies must fit a post)"
    if len(data.examples) < MIN_EXAMPLES:
        errors["examples"] = (
            f"write at least {MIN_EXAMPLES} example questions, one per line, "
            "the way customers ask them"
        )
    elif len(data.examples) > MAX_EXAMPLES:
        errors["examples"] = f"at most {MAX_EXAMPLES} example questions"
    elif any(len(e) > MAX_EXAMPLE_CHARS for e in data.examples):
        errors["examples"] = f"each example question has at most {MAX_EXAMPLE_CHARS} characters"
    if data.language is not None and not LANGUAGE.match(data.language):
        errors["language"] = "a two-letter language code such as en, fr or de, or empty for any"
    return errors


def can_edit_kb(user: User) -> bool:
    """Admins and in-house department leads maintain the knowledge base."""
    return user.is_active and not user.is_agency and user.role in {Role.ADMIN, Role.LEAD}


def check_can_edit_kb(user: User) -> None:
    if not can_edit_kb(user):
        raise Forbidden("only administrators and department leads may change the knowledge base")


def _snapshot(answer: KbAnswer) -> dict[str, Any]:
    return {
        "title": answer.title,
        "answer": answer.answer,
        "examples": list(answer.examples),
        "language": answer.language,
        "active": answer.active,
    }


def do_create_kb_answer(
    session: Session, org_id: int, data: KbAnswerInput, acting_user: User | None
) -> KbAnswer:
    """A new active answer (``acting_user`` None: the demo or setup seeding it)."""
    if acting_user is not None:
        check_can_edit_kb(acting_user)
        if acting_user.org_id != org_id:
            raise Forbidden("you may not change another organisation's knowledge base")
    errors = check_kb_answer(data)
    if errors:
        raise KbAnswerInvalid(errors)
    now = utcnow()
    answer = KbAnswer(
        org_id=org_id,
        title=data.title,
        answer=data.answer,
        examples=data.examples,
        language=data.language,
        active=True,
        created_at=now,
        updated_at=now,
        updated_by_id=acting_user.id if acting_user else None,
    )
    session.add(answer)
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor=acting_user,
        action="kb.create",
        object_type="kb_answer",
        object_id=answer.id,
        after=_snapshot(answer),
    )
    return answer


def do_update_kb_answer(
    session: Session, answer: KbAnswer, data: KbAnswerInput, acting_user: User
) -> KbAnswer:
    check_can_edit_kb(acting_user)
    errors = check_kb_answer(data)
    if errors:
        raise KbAnswerInvalid(errors)
    before = _snapshot(answer)
    answer.title, answer.answer = data.title, data.answer
    answer.examples, answer.language = data.examples, data.language
    answer.updated_at = utcnow()
    answer.updated_by_id = acting_user.id
    session.flush()
    after = _snapshot(answer)
    audit.record(
        session,
        org_id=answer.org_id,
        actor=acting_user,
        action="kb.update",
        object_type="kb_answer",
        object_id=answer.id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    return answer


def do_set_kb_answer_active(
    session: Session, answer: KbAnswer, active: bool, acting_user: User
) -> KbAnswer:
    """Deactivate (never delete: automatic answers point at it) or reactivate an answer."""
    check_can_edit_kb(acting_user)
    if answer.active == active:
        state = "active" if active else "inactive"
        raise ValidationFailed("active", f"the answer is already {state}")
    answer.active = active
    answer.updated_at = utcnow()
    answer.updated_by_id = acting_user.id
    session.flush()
    audit.record(
        session,
        org_id=answer.org_id,
        actor=acting_user,
        action="kb.activate" if active else "kb.deactivate",
        object_type="kb_answer",
        object_id=answer.id,
        before={"active": not active},
        after={"active": active},
    )
    return answer
