"""Locust users for bench/inbox_load.py: people of each role working the inbox of the demo org.

Each simulated person signs in once (with the demo password) and then, with a short think
time, opens the inbox with the filters people use most (everything, a status, a queue, a
platform, the next pages, HTMX live filtering, now and then a search) and opens conversations
from the list. Requests are named by page kind so the statistics group them.

Signing in (argon2 hashing, deliberately slow: about a second of CPU) happens once per person
in ``on_start`` and is reported under its own names (``/login …``), as is the first inbox page
each person opens right after it. The page statistics start over once the last person has
signed in (``_signed_in``): the figures are for working the inbox, not for the sign-ins or
the seconds when the server's cores are busy hashing passwords.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from locust import HttpUser, between, task
from locust.env import Environment

PASSWORD = "townhall-demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
ROW = re.compile(r'data-href="/conversations/(\d+)"')
QUEUE = re.compile(r'href="/inbox\?queue=(\d+)"')
SEARCHES = ("refund", "baggage", "delayed", "SK4")
# Requests made while signing in: kept when the page statistics start over.
SIGN_IN_NAMES = ("/login", "/login (sign in)", "/inbox (first, after sign-in)")
_signed_in = 0


def _signed_in_one(environment: Environment) -> None:
    """Count a finished sign-in; after the last one, start the page statistics over."""
    global _signed_in
    _signed_in += 1
    runner = environment.runner
    if runner is None or _signed_in != runner.target_user_count:
        return
    for (name, _method), entry in environment.stats.entries.items():
        if name not in SIGN_IN_NAMES:
            entry.reset()
    environment.stats.total.reset()


class InboxPerson(HttpUser):
    abstract = True
    wait_time = between(0.5, 2.5)
    emails: ClassVar[tuple[str, ...]] = ()

    def on_start(self) -> None:
        self.conversations: list[str] = []
        self.queues: list[str] = []
        page = self.client.get("/login", name="/login").text
        match = CSRF.search(page)
        assert match, "no CSRF token on the sign-in page"
        email = random.choice(self.emails)
        response = self.client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": match.group(1)},
            name="/login (sign in)",
            allow_redirects=False,
        )
        if response.status_code != 303:
            raise RuntimeError(f"sign-in as {email} failed: HTTP {response.status_code}")
        # The first page after signing in is timed apart: it waits behind the server's own
        # and the other people's password hashing.
        self._inbox("", "/inbox (first, after sign-in)")
        _signed_in_one(self.environment)

    def _inbox(self, query: str, name: str, *, htmx: bool = False) -> None:
        headers = {"HX-Request": "true"} if htmx else {}
        with self.client.get(
            f"/inbox{query}", name=name, headers=headers, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            ids = ROW.findall(response.text)
            if ids:
                self.conversations = ids
            if not htmx:
                self.queues = QUEUE.findall(response.text) or self.queues

    @task(6)
    def inbox(self) -> None:
        self._inbox("", "/inbox")

    @task(3)
    def by_status(self) -> None:
        status = random.choice(["new", "open", "pending_customer", "resolved"])
        self._inbox(f"?status={status}", "/inbox?status=")

    @task(3)
    def by_queue(self) -> None:
        if self.queues:
            self._inbox(f"?queue={random.choice(self.queues)}", "/inbox?queue=")

    @task(2)
    def queue_and_status(self) -> None:
        if self.queues:
            queue = random.choice(self.queues)
            self._inbox(f"?queue={queue}&status=new", "/inbox?queue=&status=")

    @task(2)
    def by_platform(self) -> None:
        platform = random.choice(["x", "facebook", "instagram", "reddit"])
        self._inbox(f"?platform={platform}", "/inbox?platform=", htmx=True)

    @task(3)
    def next_pages(self) -> None:
        self._inbox(f"?page={random.randint(2, 10)}", "/inbox?page=2..10")

    @task(1)
    def search(self) -> None:
        self._inbox(f"?q={random.choice(SEARCHES)}", "/inbox?q= (search)", htmx=True)

    @task(5)
    def conversation(self) -> None:
        if self.conversations:
            self.client.get(
                f"/conversations/{random.choice(self.conversations)}", name="/conversations/{id}"
            )


class Agent(InboxPerson):
    weight = 5
    emails = (
        "cs.agent@skyward.example",
        "cs.agent2@skyward.example",
        "marketing@skyward.example",
        "sales@skyward.example",
        "risk@skyward.example",
        "hr@skyward.example",
    )


class Lead(InboxPerson):
    weight = 2
    emails = ("cs.lead@skyward.example", "pr@skyward.example")


class AgencyAgent(InboxPerson):
    weight = 3
    emails = ("agency1@brightdesk.example", "agency2@brightdesk.example")


class Admin(InboxPerson):
    weight = 1
    emails = ("admin@skyward.example",)
