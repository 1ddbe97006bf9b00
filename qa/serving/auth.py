"""Who may use a qa server: a shared token, or users with scrypt-hashed passwords.

- `--auth-token` / `$QA_AUTH_TOKEN`: the API takes `Authorization: Bearer TOKEN`; the chat's
  login page takes any user name with the token as password.
- `--auth-file FILE`: lines `user:scrypt$N$r$p$SALT$HASH` (`qa hash-password USER` makes
  one); the API takes HTTP Basic, the chat's login page the same user and password.

Comparisons are constant-time; passwords are stored only as scrypt hashes (Python's
hashlib, i.e. OpenSSL); a client that fails too often is refused for a while; the token
is never printed or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
"""scrypt's cost: ~50 ms and 16 MB per check, OWASP's minimum for scrypt."""
MAX_FAILURES = 10
"""Failed logins a client may make per `FAILURE_WINDOW_S` before it is refused until the window passes."""
FAILURE_WINDOW_S = 60.0
ATTEMPT_WAIT_S = 10.0
"""How long a request may wait for the same client's checks under way before it is refused."""


_DUMMY = (
    "scrypt$16384$8$1$" + base64.b64encode(b"qa-no-such-user!").decode() + "$" + base64.b64encode(bytes(64)).decode()
)


class AuthConfigError(ValueError):
    pass


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 2**20, **SCRYPT)
    return (
        "scrypt${n}${r}${p}$".format(**SCRYPT)
        + base64.b64encode(salt).decode()
        + "$"
        + base64.b64encode(digest).decode()
    )


def _verify(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=256 * 2**20, dklen=len(expected))  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def read_auth_file(path: Path) -> dict[str, str]:
    """user -> scrypt hash; a line with a plain-text password is refused, naming the line."""
    users = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AuthConfigError(f"cannot read the auth file {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, stored = line.partition(":")
        if not sep or not user or not stored.startswith("scrypt$") or stored.count("$") != 5:
            raise AuthConfigError(
                f"{path}, line {number}: expected user:scrypt$… (make one with `qa hash-password USER`); "
                "passwords are never stored in plain text"
            )
        users[user] = stored
    if not users:
        raise AuthConfigError(f"the auth file {path} names no users")
    return users


@dataclass
class Credentials:
    token: str | None = field(default=None, repr=False)  # never in a repr, a log or a traceback
    users: dict[str, str] = field(default_factory=dict, repr=False)
    trusted_proxies: frozenset[str] = frozenset()
    """Addresses of reverse proxies whose `X-Forwarded-For` names the real client (`--trusted-proxy`)."""
    _failures: dict[str, deque] = field(default_factory=lambda: defaultdict(deque), repr=False)
    """When each client's recent checks failed."""
    _pending: dict[str, int] = field(default_factory=dict, repr=False)
    """How many checks of each client are under way."""
    _swept: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client_of(self, peer: str, forwarded_for: str | None) -> str:
        """The address attempts are counted against: the peer, or, behind a trusted proxy, the
        client it names last in `X-Forwarded-For` (earlier entries can be forged by the client)."""
        if peer in self.trusted_proxies and forwarded_for:
            return forwarded_for.split(",")[-1].strip() or peer
        return peer

    @classmethod
    def from_options(
        cls, token: str | None, auth_file: Path | None, trusted_proxies: list[str] | None = None
    ) -> Credentials | None:
        token = token or os.environ.get("QA_AUTH_TOKEN") or None
        if token is not None and len(token) < 16:
            raise AuthConfigError(
                "the auth token is too short: use at least 16 characters (e.g. `openssl rand -hex 24`)"
            )
        users = read_auth_file(auth_file) if auth_file else {}
        return cls(token, users, frozenset(trusted_proxies or ())) if token or users else None

    # -- checks --------------------------------------------------------------

    def attempt(self, client: str) -> bool | None:
        """Whether `client` (an address) may be checked now: True, and the check is under way
        until `settle`; None if it failed too often lately (refused unheard); False if it must
        wait for its checks under way to settle first. A client may have at most as many checks
        under way as it has failures left, so many wrong guesses at once cannot slip past the
        limit together, while many right requests at once only queue for a moment."""
        with self._lock:
            now = time.monotonic()
            if now - self._swept > FAILURE_WINDOW_S:
                self._sweep(now)
            failures = self._failures.get(client)
            while failures and failures[0] < now - FAILURE_WINDOW_S:
                failures.popleft()
            failed = len(failures) if failures else 0
            if failed >= MAX_FAILURES:
                return None
            if failed + self._pending.get(client, 0) >= MAX_FAILURES:
                return False
            self._pending[client] = self._pending.get(client, 0) + 1
            return True

    def settle(self, client: str, ok: bool) -> None:
        """The check `attempt` allowed is done; a failure counts for `FAILURE_WINDOW_S`."""
        with self._lock:
            left = self._pending.pop(client, 1) - 1
            if left:
                self._pending[client] = left
            if not ok:
                self._failures[client].append(time.monotonic())

    def _sweep(self, now: float) -> None:
        """Forget the clients whose failures are all older than the window: addresses that fail
        once and never come back (there are many IPv6 ones) must not grow memory for ever."""
        for client in [c for c, f in self._failures.items() if not f or f[-1] < now - FAILURE_WINDOW_S]:
            del self._failures[client]
        self._swept = now

    def login(self, user: str, password: str) -> bool:
        """The chat's login page: the token as password (any user name), or a user's password."""
        if self.token is not None and hmac.compare_digest(password.encode(), self.token.encode()):
            return True
        return self._password(user, password)

    async def login_async(self, user: str, password: str) -> bool:
        """`login` off the server's event loop (scrypt takes ~50 ms): what Gradio's sign-in calls."""
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.login, user, password)

    def _password(self, user: str, password: str) -> bool:
        """A user's password; an unknown user costs the same scrypt, so timing names no user."""
        if not self.users:
            return False
        return _verify(password, self.users.get(user, _DUMMY)) and user in self.users

    def check_header(self, header: str | None) -> bool:
        """An API request's Authorization header: Bearer TOKEN, or Basic for a user of the file."""
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if scheme.lower() == "basic" and self.users:
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except ValueError:
                return False
            return self._password(user, password)
        return False
