"""Seed a PostgreSQL database with the demo organisation and about 1,000,000 messages, fast.

The demo organisation (departments, agency, users with the demo password, queues, the default
ownership policy) and its 3,000 demo conversations are loaded through the product's own path
(``townhall.demo.load``): they are understood and routed for real. Those routed conversations
are the templates for the bulk: set-based SQL (``INSERT … SELECT generate_series``) copies
their platform, subject, queue, owner department, agency/restricted flags, priority, SLA
offsets, understanding fields and routing decision onto ~300,000 conversations spread over
six months, with contacts, identities and threads of one to a dozen messages.

    python bench/seed_scale.py [--url postgresql+psycopg://root@127.0.0.1:5432/townhall_scale]
                               [--messages 1000000] [--conversations 300000] [--recreate]

Idempotent: when the database already holds the organisation at that size it only says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("TOWNHALL_EMBEDDED_WORKER", "false")

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from townhall import db, migrations
from townhall.demo import content
from townhall.demo.generator import BRAND_HANDLE
from townhall.demo.load import DEMO_SLUG, load_demo

DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/townhall_scale"
DAYS = 180


def ensure_database(url: str, *, recreate: bool) -> None:
    """Create the database named in ``url`` (dropping it first with ``recreate``)."""
    target = make_url(url)
    name = target.database
    if target.get_backend_name() != "postgresql" or not name:
        sys.exit(f"--url must name a PostgreSQL database, got {url!r}")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if exists and recreate:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


@contextmanager
def step(label: str, timings: dict[str, float]) -> Iterator[None]:
    print(f"  {label} …", end="", flush=True, file=sys.stderr)
    started = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - started
    print(f" {timings[label]:.1f} s", file=sys.stderr)


def counts(connection: Connection, org_id: int) -> dict[str, int]:
    return {
        table: connection.scalar(
            text(f"SELECT count(*) FROM {table} WHERE org_id = :o"), {"o": org_id}
        )
        or 0
        for table in ("conversation", "message", "contact")
    }


# Each statement below is one set-based pass; :params are bound by SQLAlchemy.
TEMPLATE_SQL = """
CREATE TEMP TABLE tpl AS
SELECT row_number() OVER (ORDER BY c.id) - 1 AS t, c.platform, c.subject, c.queue_id,
       c.owner_department_id, c.priority, c.agency_allowed, c.restricted,
       c.first_response_due_at - c.first_message_at AS first_due,
       c.resolution_due_at - c.first_message_at AS resolution_due,
       root.kind AS root_kind, root.text AS root_text, root.language, root.sentiment,
       root.sentiment_score, root.intent, root.intent_confidence, root.risk_flags, root.urgency,
       root.kb_answer_id, root.kb_score,
       d.kind AS d_kind, d.matched_rules, d.detail, d.explanation, d.policy_version_id
FROM conversation c
JOIN LATERAL (SELECT * FROM message m WHERE m.conversation_id = c.id AND m.direction = 'inbound'
              ORDER BY m.created_at, m.id LIMIT 1) root ON true
LEFT JOIN LATERAL (SELECT * FROM routing_decision r WHERE r.conversation_id = c.id
                   ORDER BY r.created_at DESC, r.id DESC LIMIT 1) d ON true
WHERE c.org_id = :org AND c.queue_id IS NOT NULL;

CREATE TEMP TABLE pool AS
SELECT row_number() OVER (PARTITION BY direction ORDER BY id) - 1 AS p, direction, kind, text,
       language, sentiment, sentiment_score, intent, intent_confidence, risk_flags, urgency,
       kb_answer_id, kb_score
FROM message WHERE org_id = :org AND id NOT IN (
    SELECT DISTINCT ON (conversation_id) id FROM message WHERE org_id = :org
    ORDER BY conversation_id, created_at, id);
CREATE INDEX ON pool (direction, p);
ANALYZE tpl;
ANALYZE pool;
"""

# One row per bulk conversation: which template it copies, its size and first arrival.
CONVERSATION_PLAN_SQL = """
CREATE TEMP TABLE conv_plan AS
WITH n AS (SELECT n FROM generate_series(0::bigint, :conversations - 1) n),
sizes AS (
    -- One root message each, the rest piled onto a skewed, shuffled set of conversations:
    -- most threads are short, a few run long (r^2 skews; *7919 mod N shuffles, N coprime).
    SELECT (floor(:conversations * power(((i * 2654435761::bigint) % 1000003) / 1000003.0, 2))::bigint
            * 7919) % :conversations AS n, count(*) AS extra
    FROM generate_series(1, :messages - :conversations) i GROUP BY 1
)
SELECT n.n, nextval('conversation_id_seq') AS id,
       (n.n * 104729) % (SELECT count(*) FROM tpl) AS t,
       1 + coalesce(s.extra, 0) AS size,
       :end_at - make_interval(secs => ((n.n * 48271) % 1000003) / 1000003.0 * :days * 86400)
           - make_interval(mins => (100 * (1 + coalesce(s.extra, 0)))::int) AS first_at
FROM n LEFT JOIN sizes s USING (n);
CREATE INDEX ON conv_plan (n);
ALTER TABLE conv_plan ADD COLUMN platform text;
UPDATE conv_plan cp SET platform = tpl.platform FROM tpl WHERE tpl.t = cp.t;
ANALYZE conv_plan;
"""

# Contacts: about 0.6 per conversation, each with one identity on the platform they wrote on.
CONTACT_SQL = """
CREATE TEMP TABLE contact_plan AS
SELECT platform, slot, nextval('contact_id_seq') AS id,
       (CAST(:names AS text[]))[1 + (slot * 7 + ascii(platform)) % cardinality(CAST(:names AS text[]))] AS first_name,
       (CAST(:surnames AS text[]))[1 + (slot * 13 + length(platform)) % cardinality(CAST(:surnames AS text[]))] AS last_name,
       (floor(80 / power(greatest(((slot * 69621) % 1000003) / 1000003.0, 0.0005), 0.8)))::int AS followers
FROM (SELECT platform, ceil(count(*) * 0.6)::int AS slots FROM conv_plan GROUP BY platform) p,
     generate_series(0::bigint, p.slots - 1) slot;
CREATE INDEX ON contact_plan (platform, slot);
ANALYZE contact_plan;

INSERT INTO contact (id, org_id, display_name, tags, lead_status, is_journalist, is_vip,
                     is_employee, followers, created_at)
SELECT id, :org, first_name || ' ' || last_name, '{}', 'none', false, followers > 50000, false,
       followers, :end_at - interval '200 days'
FROM contact_plan;

INSERT INTO contact_identity (org_id, contact_id, platform, handle, name, followers, created_at)
SELECT :org, id, platform, lower(first_name || last_name || '_s' || slot),
       first_name || ' ' || last_name, followers, :end_at - interval '200 days'
FROM contact_plan;

ALTER TABLE conv_plan ADD COLUMN contact_id bigint;
UPDATE conv_plan cp SET contact_id = k.id
FROM (SELECT n, platform, row_number() OVER (PARTITION BY platform ORDER BY (n * 7) % 1000003) AS r
      FROM conv_plan) ranked
JOIN (SELECT platform, count(*) AS slots FROM contact_plan GROUP BY platform) ps USING (platform)
JOIN contact_plan k ON k.platform = ranked.platform AND k.slot = ranked.r % ps.slots
WHERE cp.n = ranked.n;
ANALYZE contact;
ANALYZE contact_identity;
"""

# One row per bulk message: the root copies its template, the rest alternate brand reply and
# customer follow-up taken from the demo's own replies and follow-ups.
MESSAGE_PLAN_SQL = """
CREATE TEMP TABLE msg_plan AS
SELECT cp.n, cp.id AS conversation_id, j, nextval('message_id_seq') AS id,
       CASE WHEN j % 2 = 1 THEN 'outbound' ELSE 'inbound' END AS direction,
       cp.first_at + make_interval(mins => (100 * j + (((cp.n + j) * 31) % 60))::int) AS created_at
FROM conv_plan cp, generate_series(0, cp.size - 1) j;
CREATE INDEX ON msg_plan (conversation_id, j);
ANALYZE msg_plan;
"""

CONVERSATION_SQL = """
INSERT INTO conversation (id, org_id, platform, thread_key, contact_id, status, queue_id,
    owner_department_id, assigned_user_id, priority, agency_allowed, restricted, subject,
    message_count, first_message_at, last_message_at, first_response_at, resolved_at,
    created_at, first_response_due_at, resolution_due_at)
SELECT cp.id, :org, tpl.platform, 'scale-' || first.id, cp.contact_id, st.status, tpl.queue_id,
       tpl.owner_department_id,
       -- Worked conversations belong to someone: a person of the owner department, or of
       -- the agency for every other one the policy lets the agency handle.
       CASE WHEN st.status <> 'new' THEN (
           SELECT u.id FROM user_account u
           WHERE u.org_id = :org AND u.role IN ('agent', 'lead', 'agency_agent') AND (
               CASE WHEN tpl.agency_allowed AND cp.n % 2 = 0 THEN u.agency_id IS NOT NULL
                    ELSE u.department_id = tpl.owner_department_id AND u.agency_id IS NULL END)
           ORDER BY (u.id * 7 + cp.n) % 11, u.id LIMIT 1) END,
       tpl.priority, tpl.agency_allowed, tpl.restricted,
       tpl.subject, cp.size, first.created_at, last.created_at, reply.created_at,
       CASE WHEN st.status IN ('resolved', 'closed') THEN last.created_at + interval '1 hour' END,
       first.created_at, first.created_at + tpl.first_due, first.created_at + tpl.resolution_due
FROM conv_plan cp
JOIN tpl ON tpl.t = cp.t
JOIN msg_plan first ON first.conversation_id = cp.id AND first.j = 0
JOIN msg_plan last ON last.conversation_id = cp.id AND last.j = cp.size - 1
LEFT JOIN msg_plan reply ON reply.conversation_id = cp.id AND reply.j = 1
CROSS JOIN LATERAL (
    -- Recent threads are still being worked; older ones are mostly resolved or closed.
    SELECT CASE
        WHEN :end_at - last.created_at < interval '1 day' THEN
            (ARRAY['new','new','new','new','open','open','open','pending_customer','pending_customer','new'])[1 + (cp.n * 17) % 10]
        WHEN :end_at - last.created_at < interval '7 days' THEN
            (ARRAY['new','open','open','pending_customer','pending_customer','resolved','resolved','resolved','resolved','closed'])[1 + (cp.n * 17) % 10]
        ELSE
            (ARRAY['closed','closed','closed','closed','closed','closed','closed','resolved','resolved','resolved','resolved','resolved','open','pending_customer','closed','closed','closed','closed','closed','resolved'])[1 + (cp.n * 17) % 20]
    END AS status
) st;
ANALYZE conversation;

"""

MESSAGE_SQL = """
INSERT INTO message (id, org_id, conversation_id, platform, external_id, kind, direction,
    author_identity_id, author_handle, author_name, text, created_at, in_reply_to, url, raw,
    ingested_at, language, sentiment, sentiment_score, intent, intent_confidence, risk_flags,
    urgency, kb_answer_id, kb_score, understood_at)
SELECT mp.id, :org, mp.conversation_id, cp.platform, 'scale-' || mp.id,
       CASE WHEN mp.j = 0 THEN tpl.root_kind WHEN tpl.root_kind = 'direct_message'
            THEN 'direct_message' ELSE 'reply' END,
       mp.direction, CASE WHEN mp.direction = 'inbound' THEN ident.id END,
       CASE WHEN mp.direction = 'inbound' THEN ident.handle ELSE :brand END,
       CASE WHEN mp.direction = 'inbound' THEN ident.name ELSE 'Skyward Airways' END,
       CASE WHEN mp.j = 0 THEN tpl.root_text ELSE src.text END,
       mp.created_at,
       CASE WHEN mp.j > 0 THEN 'scale-' || (mp.id - 1) END,
       NULL, '{}', mp.created_at + interval '1 second',
       CASE WHEN mp.direction = 'inbound' THEN coalesce(CASE WHEN mp.j = 0 THEN tpl.language END, src.language) END,
       CASE WHEN mp.j = 0 THEN tpl.sentiment WHEN mp.direction = 'inbound' THEN src.sentiment END,
       CASE WHEN mp.j = 0 THEN tpl.sentiment_score WHEN mp.direction = 'inbound' THEN src.sentiment_score END,
       CASE WHEN mp.j = 0 THEN tpl.intent WHEN mp.direction = 'inbound' THEN src.intent END,
       CASE WHEN mp.j = 0 THEN tpl.intent_confidence WHEN mp.direction = 'inbound' THEN src.intent_confidence END,
       CASE WHEN mp.j = 0 THEN tpl.risk_flags WHEN mp.direction = 'inbound' THEN src.risk_flags END,
       CASE WHEN mp.j = 0 THEN tpl.urgency WHEN mp.direction = 'inbound' THEN src.urgency END,
       CASE WHEN mp.j = 0 THEN tpl.kb_answer_id WHEN mp.direction = 'inbound' THEN src.kb_answer_id END,
       CASE WHEN mp.j = 0 THEN tpl.kb_score WHEN mp.direction = 'inbound' THEN src.kb_score END,
       CASE WHEN mp.direction = 'inbound' THEN mp.created_at + interval '2 seconds' END
FROM msg_plan mp
JOIN conv_plan cp ON cp.id = mp.conversation_id
JOIN tpl ON tpl.t = cp.t
JOIN contact_identity ident ON ident.contact_id = cp.contact_id
LEFT JOIN pool src ON src.direction = mp.direction
    AND src.p = ((mp.id * 2654435761::bigint) % 1000003)
        % CASE mp.direction WHEN 'inbound' THEN (SELECT count(*) FROM pool WHERE direction = 'inbound')
                            ELSE (SELECT count(*) FROM pool WHERE direction = 'outbound') END;
"""

DECISION_SQL = """
INSERT INTO routing_decision (org_id, conversation_id, message_id, policy_version_id, queue_id,
    owner_department_id, kind, priority, agency_allowed, restricted, matched_rules, detail,
    explanation, by_user_id, created_at)
SELECT :org, cp.id, mp.id, tpl.policy_version_id, tpl.queue_id, tpl.owner_department_id,
       coalesce(tpl.d_kind, tpl.intent, 'other'), tpl.priority, tpl.agency_allowed,
       tpl.restricted, coalesce(tpl.matched_rules, '[]'), coalesce(tpl.detail, '{}'),
       coalesce(tpl.explanation, ''), NULL, mp.created_at + interval '3 seconds'
FROM conv_plan cp JOIN tpl ON tpl.t = cp.t
JOIN msg_plan mp ON mp.conversation_id = cp.id AND mp.j = 0;
"""


BULK_TABLES = ("conversation", "message", "contact", "contact_identity", "routing_decision")


def drop_secondary_indexes(connection: Connection) -> list[str]:
    """Drop the plain indexes of the bulk tables; their definitions, to build them again after.

    Building an index once over a million rows is far faster than updating it row by row
    (above all the trigram GIN index on message text). Constraint indexes stay.
    """
    rows = connection.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(:tables) AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ),
        {"tables": list(BULK_TABLES)},
    ).all()
    for name, _ in rows:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def run_script(connection: Connection, script: str, params: dict[str, object]) -> None:
    for statement in (s.strip() for s in script.split(";\n")):
        if statement and not all(line.startswith("--") for line in statement.splitlines()):
            sql = text(statement)
            names = {p for p in params if f":{p}" in statement}
            connection.execute(sql, {k: v for k, v in params.items() if k in names})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"PostgreSQL URL (default {DEFAULT_URL})"
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=300_000)
    parser.add_argument("--recreate", action="store_true", help="drop the database first")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = parser.parse_args()
    if not 0 < args.conversations <= args.messages:
        sys.exit("--conversations must be positive and at most --messages")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    ensure_database(args.url, recreate=args.recreate)
    engine = db.make_engine(args.url)
    with step("migrate to head", timings):
        migrations.upgrade(engine)
    db.use_engine(engine)
    with engine.connect() as connection:
        org_id = connection.scalar(
            text("SELECT id FROM organisation WHERE slug = :s"), {"s": DEMO_SLUG}
        )
        before = counts(connection, org_id) if org_id else {}
        seeded = org_id and connection.scalar(
            text("SELECT count(*) FROM conversation WHERE thread_key LIKE 'scale-%'")
        )
    if before and before["message"] >= args.messages:
        summary = {"database": args.url, "already_seeded": True, **before}
        print(f"already seeded: {before}", file=sys.stderr)
        if args.json:
            print(json.dumps(summary))
        return
    if seeded:
        sys.exit(f"{args.url} holds a bulk seed of another size ({before}); re-run with --recreate")
    with step("demo organisation, 3,000 routed demo conversations (product path)", timings):
        load_demo(db.session_factory(), conversations=3000)
    with engine.connect() as connection:
        org_id = connection.scalar(
            text("SELECT id FROM organisation WHERE slug = :s"), {"s": DEMO_SLUG}
        )
        demo = counts(connection, org_id)
    params: dict[str, object] = {
        "org": org_id,
        "messages": args.messages - demo["message"],
        "conversations": args.conversations - demo["conversation"],
        "days": DAYS,
        "names": content.NAMES,
        "surnames": content.SURNAMES,
        "brand": BRAND_HANDLE,
    }
    if params["conversations"] <= 0 or params["messages"] < params["conversations"]:  # type: ignore[operator]
        sys.exit("the demo alone already reaches that size; ask for more")
    with engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        params["end_at"] = connection.scalar(text("SELECT now()"))
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        with step("templates from the routed demo conversations", timings):
            run_script(connection, TEMPLATE_SQL, params)
            indexes = drop_secondary_indexes(connection)
        with step(f"plan {params['conversations']:,} conversations", timings):
            run_script(connection, CONVERSATION_PLAN_SQL, params)
        with step("contacts and identities", timings):
            run_script(connection, CONTACT_SQL, params)
        with step(f"plan {params['messages']:,} messages", timings):
            run_script(connection, MESSAGE_PLAN_SQL, params)
        with step("insert conversations", timings):
            run_script(connection, CONVERSATION_SQL, params)
        with step("insert messages", timings):
            run_script(connection, MESSAGE_SQL, params)
        with step("insert routing decisions", timings):
            run_script(connection, DECISION_SQL, params)
        with step(f"build {len(indexes)} indexes", timings):
            for definition in indexes:
                connection.exec_driver_sql(definition)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # VACUUM as well: it sets the visibility map, so the inbox's counts run as index-only
        # scans the way they do on a database that autovacuum has been looking after.
        with step("VACUUM ANALYZE", timings):
            connection.exec_driver_sql("VACUUM ANALYZE")
        after = counts(connection, org_id)
        size = connection.scalar(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    total = time.perf_counter() - started
    summary = {
        "database": args.url,
        "already_seeded": False,
        **after,
        "size": size,
        "seconds": round(total, 1),
        "steps": {k: round(v, 1) for k, v in timings.items()},
    }
    print(
        f"seeded {after['message']:,} messages in {after['conversation']:,} conversations "
        f"({after['contact']:,} contacts), {size}, in {total:.0f} s",
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
