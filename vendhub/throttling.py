"""Throttles of the token endpoints: per client address and per username.

A password check costs a PBKDF2 hash (about half a second of CPU): unthrottled, a burst of
wrong logins starves every other request. The counters live in the `throttle` cache
(settings.CACHES): Redis when `REDIS_URL` is set, so that every server process counts the
same attempts, else this process's memory.

DRF's `SimpleRateThrottle` supplies the rates (`DEFAULT_THROTTLE_RATES`, read when a
throttle is made so that a settings change applies), the client address (`get_ident`:
REMOTE_ADDR, or the address `NUM_PROXIES` trusted proxies saw) and the 429 with
`Retry-After`. Its counting is replaced: it reads a list of timestamps, appends and writes it
back, so a hundred concurrent requests all read the same short list and all pass. Here each
request increments a counter per fixed window atomically (`cache.add` then `cache.incr`:
Redis INCR, a lock in LocMemCache); a client may spend its budget at the end of one window
and again at the start of the next, at most twice the rate in one period.

When the cache fails (Redis down), requests are let through with a logged warning: logins
keep working, unthrottled, rather than failing for everyone.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

#: The cache alias of the counters (settings.CACHES).
CACHE_ALIAS = "throttle"


class WindowCountThrottle(SimpleRateThrottle):
    """`num_requests` per `duration` seconds per `get_cache_key()`, counted atomically in
    fixed windows of `duration` seconds; a cache failure lets the request through."""

    def get_rate(self) -> str | None:
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()

    @property
    def cache(self):
        return caches[CACHE_ALIAS]

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        try:
            count = self._count(f"{key}:{window}")
        except (RedisError, OSError) as exc:
            logger.warning("%s: the throttle cache failed (%s: %s); request let through",
                           self.scope, type(exc).__name__, exc)
            return True
        return count <= self.num_requests

    def _count(self, key: str) -> int:
        # The window's key expires with the window (plus a margin for clock skew between
        # processes); add() creates it at most once, incr() is atomic.
        timeout = math.ceil(self.window_end - self.now) + 1
        self.cache.add(key, 0, timeout)
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add() and incr()
            self.cache.add(key, 1, timeout)
            return 1

    def wait(self) -> float:
        return max(self.window_end - self.timer(), 1.0)


class LoginAddressThrottle(WindowCountThrottle):
    """Password logins per client address (`LOGIN_RATE_PER_ADDRESS`)."""

    scope = "login_address"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(WindowCountThrottle):
    """Password logins per username, from any address (`LOGIN_RATE_PER_USERNAME`): a
    guesser spread over many addresses still gets a few tries a minute at one account.
    Usernames are compared case-insensitively, so changing the case buys no extra tries."""

    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        data = request.data
        username = (data.get(get_user_model().USERNAME_FIELD)
                    if isinstance(data, Mapping) else None)
        if not isinstance(username, str) or not username.strip():
            return None  # the serializer answers with a 400 naming the field
        # Hashed: a username may hold any character and any length; a cache key may not.
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


class TokenRefreshAddressThrottle(LoginAddressThrottle):
    """Token refreshes per client address (`TOKEN_REFRESH_RATE_PER_ADDRESS`)."""

    scope = "token_refresh_address"


#: The throttles of POST /api/v1/auth/token/ and of …/token/refresh/.
LOGIN_THROTTLES = (LoginAddressThrottle, LoginUsernameThrottle)
REFRESH_THROTTLES = (TokenRefreshAddressThrottle,)
