"""A real local HTTP receiver for webhook deliveries, and an inbox world with a subscription."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy.orm import Session, sessionmaker

from inbox.conftest import InboxWorld, make_world
from townhall.governance.models import User
from townhall.integrations.actions import do_create_subscription
from townhall.integrations.outgoing import EVENT_TYPES


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next planned (status, delay); 204 once the plan is used up."""

    url: str
    requests: list[Received] = field(default_factory=list)
    plan: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> tuple[int, float]:
        with self.lock:
            return self.plan.pop(0) if self.plan else (204, 0.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, delay = state.next_answer()
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body, time.time()))
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 400 else b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/townhall"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class HookWorld:
    world: InboxWorld
    subscription_id: int
    secret: str


def subscribe(
    sessions: sessionmaker[Session],
    world: InboxWorld,
    url: str,
    event_types: list[str] | None = None,
) -> HookWorld:
    with sessions() as session, session.begin():
        admin = session.get_one(User, world.users["admin"].id)
        subscription = do_create_subscription(
            session, admin, url=url, event_types=event_types or list(EVENT_TYPES)
        )
        return HookWorld(world, subscription.id, subscription.secret)


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> InboxWorld:
    return make_world(sessions)
