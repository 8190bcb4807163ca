"""Knowledge-base pages: the admin list and form, and the composer's suggested answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from townhall.conversations.models import Message
from townhall.conversations.queries import access_conversation
from townhall.deps import CsrfPrincipal, Principal, PrincipalDep, SessionDep
from townhall.governance.models import User
from townhall.knowledge import actions
from townhall.knowledge.actions import KbAnswerInput, KbAnswerInvalid
from townhall.knowledge.models import KbAnswer
from townhall.knowledge.queries import access_kb_answer, kb_answers, suggestions_for
from townhall.templating import templates

router = APIRouter(include_in_schema=False)

AnswerId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# Generous limits: the action says precisely what is too long, field by field.
TitleField = Annotated[str, Form(max_length=2000)]
AnswerField = Annotated[str, Form(max_length=20_000)]
ExamplesField = Annotated[str, Form(max_length=50_000)]
LanguageField = Annotated[str, Form(max_length=50)]


def _editor(principal: Principal) -> User:
    actions.check_can_edit_kb(principal.user)
    return principal.user


def _form(
    request: Request,
    principal: Principal,
    *,
    answer: KbAnswer | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return templates.TemplateResponse(
        request,
        "knowledge/form.html",
        {
            "user": principal.user,
            "csrf_token": principal.csrf_token,
            "answer": answer,
            "values": values,
            "errors": errors or {},
            "limits": {
                "title": actions.MAX_TITLE_CHARS,
                "answer": actions.MAX_ANSWER_CHARS,
            },
        },
        status_code=status,
    )


def _values(answer: KbAnswer) -> dict[str, str]:
    return {
        "title": answer.title,
        "answer": answer.answer,
        "examples": "\n".join(answer.examples),
        "language": answer.language or "",
    }


@router.get("/admin/kb", response_class=HTMLResponse)
def kb_list(request: Request, session: SessionDep, principal: PrincipalDep) -> Response:
    user = _editor(principal)
    answers = kb_answers(session, user.org_id)
    editors = {
        u.id: u.name
        for u in session.scalars(
            select(User).where(User.id.in_({a.updated_by_id for a in answers if a.updated_by_id}))
        )
    }
    return templates.TemplateResponse(
        request,
        "knowledge/list.html",
        {
            "user": user,
            "csrf_token": principal.csrf_token,
            "answers": answers,
            "editors": editors,
        },
    )


@router.get("/admin/kb/new", response_class=HTMLResponse)
def kb_new(request: Request, principal: PrincipalDep) -> Response:
    _editor(principal)
    values = {"title": "", "answer": "", "examples": "", "language": ""}
    return _form(request, principal, answer=None, values=values)


@router.post("/admin/kb", response_class=HTMLResponse)
def kb_create(
    request: Request,
    session: SessionDep,
    principal: CsrfPrincipal,
    title: TitleField = "",
    answer: AnswerField = "",
    examples: ExamplesField = "",
    language: LanguageField = "",
) -> Response:
    user = _editor(principal)
    values = {"title": title, "answer": answer, "examples": examples, "language": language}
    data = KbAnswerInput.from_form(title, answer, examples, language)
    try:
        actions.do_create_kb_answer(session, user.org_id, data, user)
    except KbAnswerInvalid as invalid:
        return _form(
            request, principal, answer=None, values=values, errors=invalid.errors, status=422
        )
    return RedirectResponse("/admin/kb", status_code=303)


@router.get("/admin/kb/{answer_id}", response_class=HTMLResponse)
def kb_edit(
    request: Request, answer_id: AnswerId, session: SessionDep, principal: PrincipalDep
) -> Response:
    user = _editor(principal)
    answer = access_kb_answer(session, user, answer_id)
    return _form(request, principal, answer=answer, values=_values(answer))


@router.post("/admin/kb/{answer_id}", response_class=HTMLResponse)
def kb_update(
    request: Request,
    answer_id: AnswerId,
    session: SessionDep,
    principal: CsrfPrincipal,
    title: TitleField = "",
    answer: AnswerField = "",
    examples: ExamplesField = "",
    language: LanguageField = "",
) -> Response:
    user = _editor(principal)
    row = access_kb_answer(session, user, answer_id)
    values = {"title": title, "answer": answer, "examples": examples, "language": language}
    data = KbAnswerInput.from_form(title, answer, examples, language)
    try:
        actions.do_update_kb_answer(session, row, data, user)
    except KbAnswerInvalid as invalid:
        return _form(
            request, principal, answer=row, values=values, errors=invalid.errors, status=422
        )
    return RedirectResponse("/admin/kb", status_code=303)


@router.post("/admin/kb/{answer_id}/active")
def kb_set_active(
    answer_id: AnswerId,
    session: SessionDep,
    principal: CsrfPrincipal,
    active: Annotated[bool, Form()],
) -> Response:
    user = _editor(principal)
    row = access_kb_answer(session, user, answer_id)
    actions.do_set_kb_answer_active(session, row, active, user)
    return RedirectResponse("/admin/kb", status_code=303)


@router.get("/conversations/{conversation_id}/suggestions", response_class=HTMLResponse)
def suggestions(
    request: Request,
    conversation_id: ConversationId,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """The composer's suggested answers for the latest inbound message (an HTMX fragment)."""
    user = principal.user
    conversation = access_conversation(session, user, conversation_id)
    latest = session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    found = (
        suggestions_for(session, user.org_id, latest.text, language=latest.language)
        if latest is not None
        else []
    )
    return templates.TemplateResponse(
        request, "knowledge/_suggestions.html", {"suggestions": found, "message": latest}
    )
