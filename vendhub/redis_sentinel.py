"""Redis through Sentinel: the settings' side (README "Deployment").

With `REDIS_SENTINELS=host:port,...` the processes never name a Redis server: they ask the
sentinels which server is the master of `REDIS_SENTINEL_MASTER` and ask again when a
connection fails, so after a failover every client follows the promoted replica. `REDIS_URL`
then gives only the database number and the credentials (its host and port are not used).

No Django imports at module level: vendhub/settings.py imports this module.
"""

from __future__ import annotations


class SentinelConfigError(ValueError):
    """A `REDIS_SENTINELS` value that is not a comma-separated list of host:port."""


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """`"10.0.0.1:26379,[::1]:26379"` -> `[("10.0.0.1", 26379), ("::1", 26379)]`; "" -> []."""
    sentinels = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SentinelConfigError(
                f"REDIS_SENTINELS: {item!r} is not host:port (e.g. 10.0.0.5:26379)")
        sentinels.append((host, int(port)))
    return sentinels


def url_options(url: str) -> dict:
    """The database and credentials of a redis:// URL, as connection keyword arguments
    (its host and port are the sentinels' business)."""
    from redis.connection import parse_url

    try:
        parsed = parse_url(url)
    except ValueError as error:
        raise SentinelConfigError(f"REDIS_URL: {error}") from None
    return {key: value for key, value in parsed.items()
            if key in ("db", "username", "password")}


def sentinel_kwargs(*, connect_timeout: float, socket_timeout: float) -> dict:
    """Options of the connections to the sentinels themselves: short, so that a dead
    sentinel is skipped quickly for the next one."""
    return {"socket_connect_timeout": connect_timeout, "socket_timeout": socket_timeout}


class SentinelCachePool:
    """`pool_class` of Django's RedisCache (the login throttles' counters): the cache calls
    `from_url(LOCATION, **OPTIONS)`; the pool asks the settings' sentinels for the master."""

    @classmethod
    def from_url(cls, url: str, **options):
        from django.conf import settings
        from redis.sentinel import Sentinel, SentinelConnectionPool

        timeout = float(options.get("socket_timeout") or 1)
        sentinel = Sentinel(
            settings.REDIS_SENTINELS,
            sentinel_kwargs=sentinel_kwargs(connect_timeout=timeout, socket_timeout=timeout))
        return SentinelConnectionPool(settings.REDIS_SENTINEL_MASTER, sentinel,
                                      **url_options(url), **options)
