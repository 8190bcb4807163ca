"""Assignment inside a queue: which available agent takes a waiting conversation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

Strategy = Literal["round_robin", "least_loaded", "skills"]
STRATEGIES: tuple[Strategy, ...] = ("round_robin", "least_loaded", "skills")

_NEVER = datetime.min.replace(tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    """An agent of the queue's team, as the inbox sees them right now."""

    id: str
    is_agency: bool
    department: str | None  # None for agency agents
    languages: frozenset[str] = frozenset()
    capacity: int  # most conversations open at once
    open_count: int = 0
    available: bool = True  # on shift and not away
    last_assigned_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationToAssign:
    """What assignment needs from a conversation and its routing decision."""

    id: str
    agency_allowed: bool
    restricted: bool
    owner_department: str | None
    language: str | None = None
    waiting_since: datetime
    # Agent ids that must not take it (e.g. the author is a colleague); empty by default.
    excluded_agents: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: str
    agent_id: str | None  # None: nobody can take it now; it keeps waiting


def may_take(agent: Agent, conversation: ConversationToAssign) -> bool:
    """Whether the agent may be given the conversation at all, load and shift included."""
    if not agent.available or agent.open_count >= agent.capacity:
        return False
    if agent.id in conversation.excluded_agents:
        return False
    if agent.is_agency and not conversation.agency_allowed:
        return False
    # Restricted conversations are visible only to the owner department (and admins).
    return not conversation.restricted or (
        not agent.is_agency and agent.department == conversation.owner_department
    )


def _round_robin_key(agent: Agent) -> tuple[datetime, str]:
    return (agent.last_assigned_at or _NEVER, agent.id)


def _load_key(agent: Agent) -> tuple[float, int, datetime, str]:
    return (agent.open_count / agent.capacity, agent.open_count, *_round_robin_key(agent))


def choose_agent(
    conversation: ConversationToAssign, agents: Iterable[Agent], strategy: Strategy
) -> str | None:
    """The agent who should take the conversation now, or None if nobody may.

    round_robin: the eligible agent assigned longest ago. least_loaded: the lowest share of
    capacity in use. skills: only agents speaking the conversation's language (any agent when it
    is unknown), least loaded among them.
    """
    eligible = [agent for agent in agents if may_take(agent, conversation)]
    if strategy == "skills" and conversation.language:
        language = conversation.language.casefold()
        eligible = [a for a in eligible if language in {x.casefold() for x in a.languages}]
    if not eligible:
        return None
    if strategy == "round_robin":
        return min(eligible, key=_round_robin_key).id
    if strategy in ("least_loaded", "skills"):
        return min(eligible, key=_load_key).id
    raise ValueError(f"unknown assignment strategy {strategy!r}")


def oldest_first(conversations: Iterable[ConversationToAssign]) -> list[ConversationToAssign]:
    return sorted(conversations, key=lambda c: (c.waiting_since, c.id))


def assign_waiting(
    conversations: Iterable[ConversationToAssign],
    agents: Sequence[Agent],
    strategy: Strategy,
    *,
    now: datetime | None = None,
) -> list[Assignment]:
    """Assign waiting conversations oldest first; each assignment counts toward the next.

    ``now`` is recorded as the agents' last assignment time (by default just after the
    latest known assignment).
    """
    state = {agent.id: agent for agent in agents}
    if len(state) != len(agents):
        raise ValueError("agent ids must be unique")
    # Each assignment in the batch is stamped after every earlier one, so the round robin
    # keeps turning even when nobody had been assigned before.
    latest = max((a.last_assigned_at for a in agents if a.last_assigned_at), default=_NEVER)
    stamp = latest + _TICK if now is None else max(now, latest + _TICK)
    assignments = []
    for conversation in oldest_first(conversations):
        agent_id = choose_agent(conversation, state.values(), strategy)
        if agent_id is not None:
            agent = state[agent_id]
            state[agent_id] = replace(
                agent, open_count=agent.open_count + 1, last_assigned_at=stamp
            )
            stamp += _TICK
        assignments.append(Assignment(conversation.id, agent_id))
    return assignments
