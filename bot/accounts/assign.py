"""Which account serves which configured chat: pure, so every worker computes the same answer.

    accounts = {"main": Account("main", cap=500), "spare": Account("spare", cap=500)}
    plan = assign(("@kyiv", "@odesa"), accounts, current={"@kyiv": "main"}, pins={})
    plan.assignment   # {"@kyiv": "main", "@odesa": "spare"}
    plan.moves        # [Move("@odesa", None, "spare", "new chat")]

The rules, in order:
- a pinned chat (DOZOR_ACCOUNT_PINS) goes to its account while that account can serve it;
  while it cannot, the chat is served elsewhere and returns when the account is back;
- an assignment stays while its account can serve it and is within its cap: restarts and a
  newcomer do not reshuffle chats (every move costs resolutions and joins, the scarcest
  requests Telegram allows);
- every other chat (new, or left by an account that is logged out, banned, stopped, or whose
  worker stopped renewing its lease) goes to the serving account with the fewest chats that
  has room under its cap (ties by name); a spare account with no chats is a warm standby;
- when no account has room, a new chat still goes to the serving account with the fewest
  chats, over its cap: the chat plan reads it from history only, as for one account with too
  many chats, and an account with room that comes later takes it (an assignment over a cap is
  not kept); a chat whose account stopped serving waits for it (or for room elsewhere)
  instead of crowding a full account. `unplaced` says which chats are in either case.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    cap: int  # chats it may serve (DOZOR_CHANNEL_CAP of the worker that runs it)
    serving: bool = True  # its worker holds a live lease and Telegram lets it in
    why_not: str | None = None  # when not serving: "is logged out (…)", "stopped renewing its lease"


@dataclass(frozen=True, slots=True)
class Move:
    source: str  # the chat as DOZOR_CHATS names it
    from_account: str | None  # None: the chat had no account yet
    to_account: str
    reason: str


@dataclass(slots=True)
class Plan:
    assignment: dict[str, str] = field(default_factory=dict)  # source → account
    moves: list[Move] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # no account has room: over a cap, or waiting

    def chats_of(self, account: str) -> list[str]:
        return [source for source, name in self.assignment.items() if name == account]


def assign(sources: Iterable[str], accounts: Mapping[str, Account], current: Mapping[str, str],
           pins: Mapping[str, str]) -> Plan:
    """The assignment of `sources` (in the configured order) given the accounts' state, the
    assignment in force (oldest first) and the pins. Chats no longer configured are left out."""
    sources = list(dict.fromkeys(sources))
    serving = {name: a for name, a in accounts.items() if a.serving}
    load = {name: 0 for name in serving}
    plan = Plan()
    placing: list[tuple[str, str]] = []  # (source, why it needs an account)
    pinned_away: set[str] = set()

    def why_left(name: str) -> str:
        account = accounts.get(name)
        if account is None:
            return f"account {name} is gone"
        return f"{name} {account.why_not or 'is not serving'}"

    # pins first: they take their room before anything else is kept
    for source in sources:
        pin = pins.get(source)
        if pin is None:
            continue
        if pin in serving:
            plan.assignment[source] = pin
            load[pin] += 1
            if current.get(source) != pin:
                plan.moves.append(Move(source, current.get(source), pin, f"pinned to {pin}"))
        else:
            pinned_away.add(source)
            placing.append((source, f"pinned to {pin}, but {why_left(pin)}"))
    # oldest assignments first: when an account is over its cap, its newest chats move, and
    # the ones it has long served (joined, with their pts) stay
    configured = set(sources)
    by_age = [s for s in current if s in configured] + [s for s in sources if s not in current]
    for source in by_age:
        if source in plan.assignment or source in pinned_away:
            continue
        held_by = current.get(source)
        if held_by is None:
            placing.append((source, "new chat"))
        elif held_by not in serving:
            placing.append((source, why_left(held_by)))
        elif load[held_by] >= serving[held_by].cap:
            placing.append((source, f"over {held_by}'s cap of {serving[held_by].cap}"))
        else:
            plan.assignment[source] = held_by
            load[held_by] += 1
    for source, reason in placing:
        room = [name for name in serving if load[name] < serving[name].cap]
        if room:
            chosen = min(room, key=lambda name: (load[name], name))
        else:
            plan.unplaced.append(source)
            held_by = current.get(source)
            if held_by in serving:
                chosen = held_by  # over its cap, as before: nobody has room for it
            elif held_by is not None:
                # it waits for its account (a restart, say) rather than crowd a full one, whose
                # new chats would cost a burst of resolutions and be read from history only
                plan.assignment[source] = held_by
                continue
            elif serving:
                chosen = min(serving, key=lambda name: (load[name], name))
                reason = f"{reason}; no account has room, so it is read from history only"
            else:
                continue
        load[chosen] += 1
        plan.assignment[source] = chosen
        if current.get(source) != chosen:
            plan.moves.append(Move(source, current.get(source), chosen, reason))
    return plan
