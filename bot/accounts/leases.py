"""What a lease row says about an account, and who holds it: pure.

    holder = worker_id()                      # "newsroom-1:4242:9f3a1c": host, pid, random
    state = account_state(lease, now)         # "active", "logged out", "banned", "flood-waiting",
                                              # "lease lapsed", "stopped"

A worker holds a lease on its account: a row renewed every third of DOZOR_LEASE_SECONDS. The
lease ends when its worker stops cleanly (released at once) or stops renewing it (lapsed once
`lease_until` has passed). Leases are judged by the database's clock, read in the same
transaction that writes or compares them: workers on several machines then agree on what
"lapsed" means without trusting each machine's clock to be set right (SQLite is one machine,
and its clock is that machine's).

The same rows elect the worker that sends digests and runs the editors' desk: the lease
named `editors` of kind `role`.
"""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

ACCOUNT = "account"
ROLE = "role"
EDITORS = "editors"  # the role that sends digests, runs the editors' desk and spike alerts

ACTIVE = "active"
LOGGED_OUT = "logged_out"
BANNED = "banned"
# what Telegram said of the account: it cannot serve until someone acts (`dozor login`)
REFUSED_STATES = (LOGGED_OUT, BANNED)


@dataclass(frozen=True, slots=True)
class Lease:
    kind: str  # ACCOUNT or ROLE
    name: str  # the account, or the role
    holder: str | None  # worker_id() of the worker holding it; None once released
    lease_until: datetime | None
    state: str = ACTIVE  # ACTIVE, LOGGED_OUT, BANNED (accounts only)
    reason: str | None = None  # Telegram's words for the state
    cap: int | None = None  # chats the account may serve, as its worker is configured
    flood_until: datetime | None = None  # the end of the account's longest flood wait
    updated_at: datetime | None = None


def worker_id() -> str:
    """host:pid:random — the host and pid say where to look, the random part tells two runs
    of the same pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def held(lease: Lease | None, now: datetime) -> bool:
    """Someone holds the lease and has renewed it in time."""
    return lease is not None and lease.holder is not None and lease.lease_until is not None \
        and lease.lease_until >= now


def holder_is_gone(holder: str | None) -> bool:
    """The holder ran on this host under a pid that no longer exists: it died without
    releasing its lease, and a restart need not wait for the lease to lapse."""
    if not holder:
        return True
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this very process: another Service of it, alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def serving(lease: Lease | None, now: datetime) -> bool:
    """Whether the account can serve chats: its lease is held and Telegram lets it in."""
    return held(lease, now) and lease.state not in REFUSED_STATES


def account_state(lease: Lease | None, now: datetime) -> str:
    """What `dozor accounts` says of an account."""
    if lease is None:
        return "never started"
    if lease.state == LOGGED_OUT:
        return "logged out"
    if lease.state == BANNED:
        return "banned"
    if lease.holder is None:
        return "stopped"
    if not held(lease, now):
        return "lease lapsed"
    if lease.flood_until is not None and lease.flood_until > now:
        return "flood-waiting"
    return "active"


def why_not_serving(lease: Lease | None, now: datetime) -> str | None:
    """Words for a chat's move: "is logged out (AUTH_KEY_UNREGISTERED)", "stopped renewing its lease"."""
    if serving(lease, now):
        return None
    if lease is None:
        return "has never started"
    if lease.state in REFUSED_STATES:
        said = f" ({lease.reason})" if lease.reason else ""
        return f"is {'logged out' if lease.state == LOGGED_OUT else 'banned'}{said}"
    if lease.holder is None:
        return "was stopped"
    return "stopped renewing its lease"
