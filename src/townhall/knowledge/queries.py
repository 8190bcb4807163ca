"""Reads for the knowledge base, and the per-organisation matcher built from its answers.

The matcher (``understanding.KnowledgeBase``) takes a few seconds to build, so it is
cached per organisation and rebuilt when the answers change: every lookup compares a cheap
fingerprint of the organisation's active answers (count, newest update, highest id) with
the cached one. That works across web and worker processes without any signal between them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from townhall.core.errors import NotFound
from townhall.core.time import ensure_aware
from townhall.governance.models import User
from townhall.knowledge.models import KbAnswer
from townhall.understanding import KbEntry, KnowledgeBase

_HANDLES_AND_LINKS = re.compile(r"(?<![\w.])@\w+|https?://\S+")


def question_text(text: str) -> str:
    """The question in a social post: @handles and links say nothing about what is asked.

    ("@SkywardAir is there wifi on SK123?" matches its answer at 0.82 instead of 0.76.)
    """
    cleaned = _HANDLES_AND_LINKS.sub(" ", text)
    return re.sub(r"\s+([,.!?])", r"\1", re.sub(r"\s+", " ", cleaned)).strip(" ,")


def kb_answers(session: Session, org_id: int, *, include_inactive: bool = True) -> list[KbAnswer]:
    """The organisation's answers, active first, then by title."""
    stmt = select(KbAnswer).where(KbAnswer.org_id == org_id)
    if not include_inactive:
        stmt = stmt.where(KbAnswer.active.is_(True))
    return list(session.scalars(stmt.order_by(KbAnswer.active.desc(), KbAnswer.title)))


def access_kb_answer(session: Session, user: User, answer_id: int) -> KbAnswer:
    """The answer if it belongs to the user's organisation; NotFound otherwise."""
    answer = session.get(KbAnswer, answer_id)
    if answer is None or answer.org_id != user.org_id:
        raise NotFound("knowledge-base answer")
    return answer


Fingerprint = tuple[int, str, int]


def _fingerprint(session: Session, org_id: int) -> Fingerprint:
    count, newest, highest = session.execute(
        select(func.count(KbAnswer.id), func.max(KbAnswer.updated_at), func.max(KbAnswer.id)).where(
            KbAnswer.org_id == org_id, KbAnswer.active.is_(True)
        )
    ).one()
    stamp = ensure_aware(newest).isoformat() if isinstance(newest, datetime) else str(newest)
    return int(count or 0), stamp, int(highest or 0)


@dataclass(frozen=True)
class AnswerText:
    """What the cache keeps of an answer (plain data: it outlives the session that read it)."""

    id: int
    title: str
    answer: str
    language: str | None


@dataclass(frozen=True)
class OrgKnowledgeBase:
    """An organisation's matcher and the answers it was built from (by id)."""

    fingerprint: Fingerprint
    matcher: KnowledgeBase | None  # None when the organisation has no active answer
    answers: dict[int, AnswerText]


_cache: dict[int, OrgKnowledgeBase] = {}
_cache_lock = threading.Lock()


def _entries(answers: list[KbAnswer]) -> list[KbEntry]:
    # The title is a question-like summary too ("Checked baggage allowance"): it helps when
    # an answer has only a couple of examples.
    return [
        KbEntry(str(a.id), text) for a in answers for text in [a.title, *a.examples] if text.strip()
    ]


def knowledge_base_for(session: Session, org_id: int) -> OrgKnowledgeBase:
    """The organisation's matcher, rebuilt only when its active answers have changed."""
    fingerprint = _fingerprint(session, org_id)
    cached = _cache.get(org_id)
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    with _cache_lock:
        cached = _cache.get(org_id)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        answers = kb_answers(session, org_id, include_inactive=False)
        matcher = KnowledgeBase(_entries(answers)) if answers else None
        texts = {a.id: AnswerText(a.id, a.title, a.answer, a.language) for a in answers}
        built = OrgKnowledgeBase(fingerprint, matcher, texts)
        _cache[org_id] = built
        return built


def forget_knowledge_bases() -> None:
    """Drop every cached matcher (tests reuse organisation ids across emptied databases)."""
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class Suggestion:
    answer_id: int
    title: str
    answer: str
    score: float


def suggestions_for(
    session: Session, org_id: int, text: str, *, limit: int = 3, language: str | None = None
) -> list[Suggestion]:
    """The best ``limit`` answers for ``text`` with their similarity (0..1), best first.

    Answers below the matcher's out-of-scope threshold ("thanks, that worked!" matches
    nothing) and answers written for another language than the message's are left out.
    """
    kb = knowledge_base_for(session, org_id)
    if kb.matcher is None or not text.strip():
        return []
    scores = kb.matcher.scores([question_text(text)])[0]
    ranked = sorted(zip(kb.matcher.answer_ids, scores, strict=True), key=lambda p: -p[1])
    found: list[Suggestion] = []
    for answer_id, score in ranked:
        if score < kb.matcher.min_score:
            break
        answer = kb.answers[int(answer_id)]
        if language and answer.language and answer.language != language:
            continue
        found.append(Suggestion(answer.id, answer.title, answer.answer, round(float(score), 3)))
        if len(found) == limit:
            break
    return found
