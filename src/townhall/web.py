"""The web application: HTML pages, the JSON API under /api/v1, health and error handling."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall import __version__, db
from townhall.advisor import views as advisor_views
from townhall.analytics import views as analytics_views
from townhall.channels import webhook
from townhall.config import get_settings
from townhall.conversations.api import router as conversations_router
from townhall.core.errors import Forbidden, NotFound, ValidationFailed
from townhall.deps import CsrfFailed, MissingScope, NotAuthenticated
from townhall.governance import views as governance_views
from townhall.inbox import bulk as inbox_bulk
from townhall.inbox import notifications as inbox_notifications
from townhall.inbox import views as inbox_views
from townhall.integrations import views as integrations_views
from townhall.knowledge import views as knowledge_views
from townhall.metrics import router as metrics_router
from townhall.routing import views as routing_views
from townhall.templating import STATIC_DIR, templates
from townhall.worker import EmbeddedWorker

log = logging.getLogger("townhall.web")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that does not set them itself.

    Plain ASGI rather than ``@app.middleware("http")``, whose per-request task and streams
    cost more than the webhook's whole database work.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    worker = (
        EmbeddedWorker(settings.embedded_worker_interval_seconds)
        if settings.runs_embedded_worker
        else None
    )
    if worker:
        worker.start()
    yield
    if worker:
        worker.stop()


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="Townhall",
        version=__version__,
        description="Every conversation understood, routed to its owner, answered and measured.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(governance_views.router)
    app.include_router(inbox_views.router)
    app.include_router(knowledge_views.router)
    app.include_router(inbox_notifications.router)
    app.include_router(inbox_bulk.router)
    app.include_router(advisor_views.router)
    app.include_router(analytics_views.router)
    app.include_router(routing_views.router)
    app.include_router(integrations_views.router)
    app.include_router(conversations_router, prefix="/api/v1")
    app.include_router(webhook.router)
    app.include_router(metrics_router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with db.get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "sign in or send a valid API token (Authorization: Bearer th_...)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        return _error(
            request,
            403,
            "This form has expired or did not come from Townhall. Reload the page and try again.",
        )

    @app.exception_handler(MissingScope)
    async def missing_scope(request: Request, exc: MissingScope) -> Response:
        return _error(request, 403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc).capitalize())

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, str(exc) or "You may not do this.")

    @app.exception_handler(ValidationFailed)
    async def validation_failed(request: Request, exc: ValidationFailed) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": [{"loc": [exc.field], "msg": exc.reason}]}, status_code=422
            )
        return _error(request, 422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "loc": list(e.get("loc", ())),
                "msg": e.get("msg", "invalid"),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        if _is_api(request):
            return JSONResponse({"detail": problems}, status_code=422)
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in problems
        )
        return _error(request, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> Response:
        # The database failed us, not the request: nothing was stored; the sender may retry.
        log.warning("database unavailable: %s", exc.orig)
        response = _error(request, 503, "The database is unavailable; nothing was saved. Retry.")
        response.headers["Retry-After"] = "5"
        return response

    return app
