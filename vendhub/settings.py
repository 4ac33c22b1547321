"""VendHub Realtime settings, read from the environment.

Embedded defaults (SQLite, in-memory channel layer) apply when DATABASE_URL and
REDIS_URL are unset, so a fresh checkout runs with nothing else installed.
"""

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from redis.exceptions import ConnectionError as RedisConnectionError

from vendhub.redis_sentinel import (
    channel_layer_hosts,
    parse_names,
    parse_redis_urls,
    parse_sentinels,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
#: False in production mode without SECRET_KEY. The servers then refuse to start
#: (vendhub/startup.py, called by vendhub/asgi.py and vendhub/wsgi.py), while management
#: commands that sign nothing (check, makemigrations, migrate) still run, on a throwaway key
#: (simplejwt reads the key when it is imported, so it cannot stay empty).
SECRET_KEY_CONFIGURED = bool(SECRET_KEY) or DEBUG
if not SECRET_KEY:
    SECRET_KEY = ("django-insecure-vendhub-development-only-key" if DEBUG  # noqa: S105
                  else secrets.token_urlsafe(50))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # daphne first, so that `runserver` serves the ASGI application (websockets included).
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's files, served as our own static files for /api/v1/docs/ (no CDN).
    "drf_spectacular_sidecar",
    "csp",
    "machines",
    "telemetry",
    "notifications",
    "sales",
    "operations",
    "devices",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "vendhub.middleware.OrganizationTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "vendhub.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "vendhub.wsgi.application"
ASGI_APPLICATION = "vendhub.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if (DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        and env_bool("DB_POOL", True) and not DATABASES["default"]["CONN_MAX_AGE"]):
    # A psycopg connection pool per process. Without it, every `database_sync_to_async`
    # call of the gateway (and every HTTP request, each in its own thread under ASGI) opens
    # and closes a PostgreSQL connection: ~5 ms and a backend fork per connect, which made a
    # reconnect storm wait on the database. Django returns a connection to the pool where it
    # would close it. DB_CONN_MAX_AGE > 0 (persistent per-thread connections) or DB_POOL=0
    # turn it off.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "2")),
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "10")),
        # Seconds a request waits for a connection before a database error (then a 503):
        # short, so a database outage is answered quickly instead of holding requests.
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "3")),
    }
    # Check a pooled connection before handing it out: after a PostgreSQL restart the pool
    # still holds connections the server closed (Django passes the pool its `check`).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis through Sentinel (README "Deployment"): the sentinels name the master of
# REDIS_SENTINEL_MASTER, and every client asks them again after a failover. REDIS_URL then
# gives only the database and credentials (redis://:password@sentinel/0 by convention).
REDIS_SENTINELS = parse_sentinels(os.environ.get("REDIS_SENTINELS", ""))
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "") or "vendhub"
if REDIS_SENTINELS and not REDIS_URL:
    REDIS_URL = "redis://sentinel/0"
# The channel layer sharded over several Redis masters (README "Sharding the channel layer"):
# plain servers, or masters the sentinels know by name. Only the layer shards: the recovery
# history (one stream, one order of every event), the parked sessions and the throttles stay
# on REDIS_URL (the first shard when unset).
CHANNEL_LAYER_REDIS_URLS = parse_redis_urls(os.environ.get("CHANNEL_LAYER_REDIS_URLS", ""),
                                            setting="CHANNEL_LAYER_REDIS_URLS")
CHANNEL_LAYER_SENTINEL_MASTERS = parse_names(os.environ.get("CHANNEL_LAYER_SENTINEL_MASTERS",
                                                            ""))
if CHANNEL_LAYER_REDIS_URLS and not REDIS_URL:
    REDIS_URL = CHANNEL_LAYER_REDIS_URLS[0]
REDIS_CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT", "1"))
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "10"))
if REDIS_URL:
    # With Redis unreachable, a publish on the ingest path fails fast (and is logged)
    # instead of holding the request: a short connect timeout. The read timeout must outlast
    # channels_redis's 5 s blocking pop (redis-py's default of 5 s made idle receives fail).
    # One immediate retry on a connection error replaces a pooled connection that a
    # restarted Redis closed (or, through Sentinel, one to a demoted master).
    _redis_hosts = channel_layer_hosts(
        base={"socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
              "socket_timeout": REDIS_SOCKET_TIMEOUT,
              "retry_on_error": [RedisConnectionError]},
        redis_url=REDIS_URL, shard_urls=CHANNEL_LAYER_REDIS_URLS, sentinels=REDIS_SENTINELS,
        sentinel_master=REDIS_SENTINEL_MASTER, shard_masters=CHANNEL_LAYER_SENTINEL_MASTERS,
        sentinel_timeout=REDIS_CONNECT_TIMEOUT)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": _redis_hosts,
                # Each server process listens on one channel (see realtime/server/hub.py), so the
                # default capacity of 100 queued messages would drop events under bursts.
                "capacity": int(os.environ.get("CHANNEL_LAYER_CAPACITY", "10000")),
                "expiry": 60,
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "vendhub"),
            },
        }
    }
else:
    # Embedded default: one process only (no cross-process fan-out).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10000},
        }
    }

# The login throttles' counters (vendhub/throttling.py). With several server processes they
# must be shared: Redis when configured, under the channel layer's key prefix, with short
# timeouts (the throttle lets requests through when Redis fails, rather than holding them).
if REDIS_URL:
    THROTTLE_CACHE = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{os.environ.get('CHANNEL_LAYER_PREFIX', 'vendhub')}:throttle",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
    }
    if REDIS_SENTINELS:
        THROTTLE_CACHE["OPTIONS"]["pool_class"] = "vendhub.redis_sentinel.SentinelCachePool"
else:
    THROTTLE_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "vendhub-throttle"}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": THROTTLE_CACHE,
}

# Passwords are checked with the pooled database connection released, at most this many at
# once per process (vendhub/auth.py).
AUTHENTICATION_BACKENDS = ["vendhub.auth.PoolFriendlyModelBackend"]
PASSWORD_HASHING_CONCURRENCY = int(os.environ.get("PASSWORD_HASHING_CONCURRENCY",
                                                  str(max(1, (os.cpu_count() or 1) - 1))))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

if DEBUG and env_bool("FAST_PASSWORD_HASHING"):
    # The test suite (scripts/run-tests.sh) creates hundreds of users; PBKDF2 would dominate
    # its run time. Never honoured outside DEBUG.
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ru", "Русский"), ("uz", "Oʻzbekcha")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Tashkent")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Browser packages come from the npm registry (package.json, installed by `make`), served as
# our own static files: never from a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/socket.io-client", BASE_DIR / "node_modules" / "socket.io-client" / "dist"),
    ("vendor/leaflet", BASE_DIR / "node_modules" / "leaflet" / "dist"),
    ("vendor/uplot", BASE_DIR / "node_modules" / "uplot" / "dist"),
]

# Uploaded files (visit photos). Django serves MEDIA_URL only with DEBUG, and never the
# visit photos, which only their organization's users may read (an authenticated view);
# in production the proxy serves the rest of /media/ (README, "Serving").
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media")))
VISIT_PHOTO_MAX_BYTES = int(os.environ.get("VISIT_PHOTO_MAX_BYTES", str(5 * 1024 * 1024)))

# Serve static files from the app server itself (also under daphne), straight from the
# finders in development.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/login/"

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL_ORIGINS", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, with a JSON body nested too deeply answered as a 400 (vendhub/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "vendhub.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "vendhub.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The token endpoints' throttles (vendhub/throttling.py), "<count>/<s|min|hour|day>".
    "DEFAULT_THROTTLE_RATES": {
        "login_address": os.environ.get("LOGIN_RATE_PER_ADDRESS", "20/min"),
        "login_username": os.environ.get("LOGIN_RATE_PER_USERNAME", "10/min"),
        "token_refresh_address": os.environ.get("TOKEN_REFRESH_RATE_PER_ADDRESS", "60/min"),
    },
    # Reverse proxies in front of the servers whose X-Forwarded-For entries are trusted to
    # name the client (the throttles' client address). 0: REMOTE_ADDR, and a client cannot
    # pick its own address by sending the header. DRF's default (None) trusts the header.
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
}

SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "VendHub Realtime API",
    "DESCRIPTION": "Fleet, telemetry, notifications and operator tasks of a vending operator.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page loads Swagger UI from our own static files (drf-spectacular-sidecar),
    # never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # `status` names two different enums (machines and tasks): name them apart.
    "ENUM_NAME_OVERRIDES": {
        "MachineStatusEnum": "machines.models.MachineStatus",
        "TaskStatusEnum": "machines.models.TaskStatus",
        "TaskKindEnum": "machines.models.TaskKind",
        "VisitActionKindEnum": "operations.rules_visits.KINDS",
    },
}

# The realtime gateway (Engine.IO v4 / Socket.IO v5). Read through realtime.server.conf.
REALTIME = {
    "PING_INTERVAL_MS": int(os.environ.get("REALTIME_PING_INTERVAL_MS", "25000")),
    "PING_TIMEOUT_MS": int(os.environ.get("REALTIME_PING_TIMEOUT_MS", "20000")),
    "MAX_PAYLOAD": int(os.environ.get("REALTIME_MAX_PAYLOAD", "1000000")),
    "CONNECT_TIMEOUT_MS": int(os.environ.get("REALTIME_CONNECT_TIMEOUT_MS", "45000")),
    "UPGRADE_TIMEOUT_MS": int(os.environ.get("REALTIME_UPGRADE_TIMEOUT_MS", "10000")),
    "ALLOWED_ORIGINS": env_list("REALTIME_ALLOWED_ORIGINS", "*" if DEBUG else ""),
    "MAX_QUEUED_FRAMES": int(os.environ.get("REALTIME_MAX_QUEUED_FRAMES", "1000")),
    "RECOVERY": env_bool("REALTIME_RECOVERY", True),
    "RECOVERY_WINDOW_MS": int(os.environ.get("REALTIME_RECOVERY_WINDOW_MS", "120000")),
    "MAP_TICK_MS": int(os.environ.get("REALTIME_MAP_TICK_MS", "1000")),
    "ROOM_LINGER_MS": int(os.environ.get("REALTIME_ROOM_LINGER_MS", "30000")),
    "UNAUTHENTICATED_MAX_PAYLOAD": int(os.environ.get("REALTIME_UNAUTHENTICATED_MAX_PAYLOAD",
                                                      "16384")),
    "MAX_ATTACHMENTS": int(os.environ.get("REALTIME_MAX_ATTACHMENTS", "10")),
    "MAX_ATTACHMENT_BYTES": int(os.environ.get("REALTIME_MAX_ATTACHMENT_BYTES", "1000000")),
    "MAX_PENDING_ATTACHMENT_BYTES": int(os.environ.get("REALTIME_MAX_PENDING_ATTACHMENT_BYTES",
                                                       "32000000")),
    "SWEEP_AFTER_CLOSES": int(os.environ.get("REALTIME_SWEEP_AFTER_CLOSES", "1000")),
    "DRAIN_DELAY_MS": int(os.environ.get("REALTIME_DRAIN_DELAY_MS", "0")),
    "WRITE_BATCH_EVENTS": int(os.environ.get("REALTIME_WRITE_BATCH_EVENTS", "8")),
    "WRITE_BATCH_HOLD_MS": float(os.environ.get("REALTIME_WRITE_BATCH_HOLD_MS", "5")),
    # Request headers a session keeps once open; namespaces read these at connect.
    "SESSION_HEADERS": env_list("REALTIME_SESSION_HEADERS",
                                "host,origin,authorization,cookie,accept-language"),
}

#: The garbage collector of server processes (applied by vendhub/asgi.py): CPython's three
#: generation thresholds (empty: keep CPython's 700,10,10), and whether the objects created
#: at startup are frozen out of every later collection. See vendhub/asgi.py for why.
GC_THRESHOLDS = tuple(int(value) for value in env_list("GC_THRESHOLDS", "10000,10,10"))
GC_FREEZE = env_bool("GC_FREEZE", True)

#: Bearer token of GET /metrics (Prometheus). Unset: only loopback clients may scrape.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# Telemetry: readings older than this are removed by `manage.py prune_telemetry`.
TELEMETRY_RETENTION_DAYS = int(os.environ.get("TELEMETRY_RETENTION_DAYS", "90"))
# Sales: single vends older than this are removed by `manage.py prune_vends` (the daily
# rollups the reports read are kept); ingestion refuses vends that old.
SALES_VEND_RETENTION_DAYS = int(os.environ.get("SALES_VEND_RETENTION_DAYS", "400"))
#: Readings accepted in one POST /api/v1/telemetry/ batch.
TELEMETRY_MAX_BATCH = int(os.environ.get("TELEMETRY_MAX_BATCH", "500"))
#: A machine silent for longer than its telemetry interval times this factor is offline.
WATCHDOG_SILENCE_FACTOR = float(os.environ.get("WATCHDOG_SILENCE_FACTOR", "2"))

# Devices over MQTT (devices/). The server's own broker account, mqtt://user:password@host:port:
# it provisions the devices' broker clients (the dynamic-security plugin) and publishes
# commands. Unset: no MQTT (device keys work over HTTP only).
MQTT_URL = os.environ.get("MQTT_URL", "")
#: Seconds to connect to the broker's control API and for each of its answers; a key issued
#: while the broker is unreachable waits at most this long, then is provisioned later.
MQTT_CONTROL_TIMEOUT = float(os.environ.get("MQTT_CONTROL_TIMEOUT", "3"))

# Dashboard map tiles. Markers still render when tiles cannot load (offline, tests).
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")

# Content-Security-Policy (django-csp) of every page, DEBUG or not, so that the browser tests
# run under the policy production serves: the pages load scripts, styles and fonts from this
# server only (no inline code: the templates have none), talk to it only (REST, websocket),
# and show images from it, from data: URIs (Swagger UI's icons) and from the map tile server.
_tiles = urlsplit(MAP_TILE_URL)
# Leaflet's URL placeholders ({s}.tile.example.org) stand for subdomains: a CSP wildcard.
_TILE_SOURCE = (f"{_tiles.scheme}://{re.sub(r'{[^}]*}', '*', _tiles.netloc)}"
                if _tiles.scheme in ("http", "https") and _tiles.netloc else None)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *([_TILE_SOURCE] if _TILE_SOURCE else [])],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# HTTPS. In production (DEBUG off) the session and CSRF cookies are `Secure` and HTTPS
# responses carry HSTS, unless INSECURE_HTTP says the deployment is served over plain HTTP.
# Behind a TLS-terminating proxy, SECURE_PROXY_SSL_HEADER names the header by which it tells
# the scheme (`X-Forwarded-Proto`: https); only set it when the proxy always sets or
# overwrites that header, or a client could claim HTTPS itself.
INSECURE_HTTP = env_bool("INSECURE_HTTP", False)
SERVED_OVER_HTTPS = not DEBUG and not INSECURE_HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SERVED_OVER_HTTPS
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_"),
        "https",
    )
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS",
                                         "31536000" if SERVED_OVER_HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The most markers `GET /api/v1/machines/?withLocation=true` returns in its one unpaginated
# list (more is a 400): 20,000 markers are about 2.5 MB of JSON (bench/map_load.py).
MAP_MAX_MACHINES = int(os.environ.get("MAP_MAX_MACHINES", "50000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"()": "vendhub.logformat.UTCFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django's default config gives "django" a console handler of its own under DEBUG,
        # and the record then also propagates to the root's: every django.request warning
        # printed twice. The root's handler alone prints it.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves the server, the watchdog and the simulator's requests at
    # once: WAL lets readers run beside the writer, IMMEDIATE transactions queue writers
    # (instead of failing with "database is locked" when a read lock cannot be upgraded).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not SQLite's in-memory default, so that a live server started by the tests in
    # another process sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
