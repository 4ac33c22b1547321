"""Redis through Sentinel, and the channel layer's shards: the settings' side (README
"Deployment").

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


def parse_names(value: str) -> list[str]:
    """`"shard-a, shard-b"` -> `["shard-a", "shard-b"]`; "" -> []."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_redis_urls(value: str, *, setting: str) -> list[str]:
    """A comma-separated list of redis://, rediss:// or unix:// URLs (`setting` names the
    variable in the error)."""
    urls = parse_names(value)
    for url in urls:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise SentinelConfigError(
                f"{setting}: {url!r} is not a redis:// URL (e.g. redis://10.0.0.7:6379/0)")
    return urls


def channel_layer_hosts(*, base: dict, redis_url: str, shard_urls: list[str],
                        sentinels: list[tuple[str, int]], sentinel_master: str,
                        shard_masters: list[str], sentinel_timeout: float) -> list[dict]:
    """channels_redis's `hosts`: one entry per shard, each with the `base` options.

    channels_redis hashes every group and every process channel to one of its hosts, so
    each shard carries its share of the fan-out. Shards are plain servers
    (`CHANNEL_LAYER_REDIS_URLS`) or, through the sentinels, masters by name
    (`CHANNEL_LAYER_SENTINEL_MASTERS`); with neither, the one Redis of `REDIS_URL` (or of
    `REDIS_SENTINEL_MASTER`) is the only shard."""
    if sentinels:
        if shard_urls:
            raise SentinelConfigError(
                "CHANNEL_LAYER_REDIS_URLS: with REDIS_SENTINELS name the shards' masters in "
                "CHANNEL_LAYER_SENTINEL_MASTERS instead")
        through = {**url_options(redis_url), "sentinels": sentinels,
                   "sentinel_kwargs": sentinel_kwargs(connect_timeout=sentinel_timeout,
                                                      socket_timeout=sentinel_timeout)}
        return [{**base, **through, "master_name": name}
                for name in shard_masters or [sentinel_master]]
    if shard_masters:
        raise SentinelConfigError("CHANNEL_LAYER_SENTINEL_MASTERS needs REDIS_SENTINELS")
    return [{**base, "address": url} for url in shard_urls or [redis_url]]


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
