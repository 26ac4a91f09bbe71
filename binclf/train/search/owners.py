"""Which run a trial belongs to, and whether that run is still alive.

Every trial records its owner in the user attribute `owner`: a token unique to one call of the
search, the host, the process id and the process's start time (so a reused process id is not
mistaken for the run that left the trial). On a single-worker storage (SQLite) a starting search
fails only RUNNING trials whose owner is gone; a trial of another live run keeps running. An
owner is judged alive only on its own host (process ids mean nothing elsewhere): a trial owned on
another host is left to that host. A trial without an owner (asked but killed before it recorded
one, or from a study older than owners) counts as orphaned.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OWNER_ATTR = "owner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces; fields follow it.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class Owner:
    """The run that started a trial."""

    run: str
    host: str
    pid: int
    started: str | None

    @classmethod
    def current(cls) -> Owner:
        """A new owner for this call: a fresh token, this host and this process."""
        pid = os.getpid()
        host = socket.gethostname()
        return cls(run=uuid.uuid4().hex, host=host, pid=pid, started=_start_time(pid))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Owner | None:
        value = attrs.get(OWNER_ATTR)
        if not isinstance(value, dict):
            return None
        return cls(
            run=str(value["run"]), host=str(value["host"]), pid=int(value["pid"]),
            started=value.get("started"),
        )  # fmt: skip

    def is_alive(self) -> bool:
        """Whether the owning process still runs; True for owners on another host."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # the process exists but belongs to another user
        started = _start_time(self.pid)
        return self.started is None or started is None or started == self.started


def is_orphan(trial: Any) -> bool:
    """A RUNNING trial whose run is gone (or that never recorded its run)."""
    owner = Owner.from_attrs(trial.user_attrs)
    return owner is None or not owner.is_alive()
