"""Server-side sessions: the bearer token never reaches the browser.

The browser holds only a random session id in an HttpOnly, SameSite=Lax cookie (Secure over
https). Each session carries a CSRF token that every POST must echo (form field ``csrf_token``
or header ``X-CSRF-Token``, which the layout sets for htmx requests). The store is in memory,
bounded (oldest sessions dropped first) and expires idle sessions; a restart signs everyone out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = "swp_console"


@dataclass
class Session:
    sid: str
    csrf: str
    expires_at: float
    token: str | None = None  # the API bearer token; None before sign-in
    role: str | None = None
    county: str | None = None
    county_name: str = ""
    user_name: str = ""
    provider_id: str | None = None
    worker_id: str | None = None  # a worker's own account: the registry's id of the social worker
    evaluator_org: str | None = None
    org_name: str = ""
    flash: list[str] = field(default_factory=list)
    # A sign-in under way at the OIDC issuer: state, nonce, PKCE verifier and where to go after
    # (one use: taken by the callback).
    oidc: dict[str, str] | None = None

    @property
    def signed_in(self) -> bool:
        return self.token is not None


class SessionStore:
    def __init__(self, ttl_seconds: int, max_sessions: int) -> None:
        self.ttl = ttl_seconds
        self.max = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> Session:
        session = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), expires_at=time.time() + self.ttl)
        with self._lock:
            self._sessions[session.sid] = session
            while len(self._sessions) > self.max:
                self._sessions.popitem(last=False)
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if session.expires_at < time.time():
                del self._sessions[sid]
                return None
            session.expires_at = time.time() + self.ttl
            self._sessions.move_to_end(sid)
            return session

    def rotate(self, old: Session) -> Session:
        """A new id and CSRF token for a session that changes privilege (sign-in): no fixation."""
        self.drop(old.sid)
        return self.new()

    def drop(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and secrets.compare_digest(session.csrf, str(submitted))
