"""Settings, read from the environment.

Two modes (see ARCHITECTURE.md): *embedded* when ``REDIS_URL`` is unset (SQLite,
in-process Dramatiq broker with a worker thread in the web process, in-memory
channel layer) and *production* when it is set (Redis broker and channel layer,
``DATABASE_URL``, separate ``rundramatiq`` workers).
"""

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


def _dev_secrets():
    """Secrets for a developer machine, generated once into an ignored file.

    Production sets SECRET_KEY and FERNET_KEYS in the environment; a laptop
    should not need to, and must not share keys with anyone else's.
    """
    path = VAR_DIR / "dev-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    values = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FERNET_KEYS": Fernet.generate_key().decode(),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not REDIS_URL

_needs_dev_secrets = not (os.environ.get("SECRET_KEY") and os.environ.get("FERNET_KEYS"))
if _needs_dev_secrets and not EMBEDDED:
    # Keys generated per host would disagree between hosts: no worker could
    # decrypt a token another host stored.
    raise RuntimeError("Production mode (REDIS_URL is set) needs SECRET_KEY and FERNET_KEYS in the environment.")
_dev = _dev_secrets() if _needs_dev_secrets else {}
SECRET_KEY = os.environ.get("SECRET_KEY") or _dev["SECRET_KEY"]
# Comma-separated: the first key encrypts, every key decrypts, so keys rotate
# by putting a new one first; re-saving a credential re-encrypts it.
FERNET_KEYS = [k.strip() for k in (os.environ.get("FERNET_KEYS") or _dev["FERNET_KEYS"]).split(",") if k.strip()]

DEBUG = env_bool("DEBUG", default=EMBEDDED)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto, so absolute URLs
# (the OAuth callback sent to GitHub) say https.
if env_bool("TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_dramatiq",
    "integrations",
    "onboarding",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

_sqlite_path = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{_sqlite_path}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The worker thread, its heartbeat thread and the web requests share one
    # file: WAL lets readers go on during a write, IMMEDIATE takes the write
    # lock up front instead of failing an upgrade with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not shared-cache memory: the worker and heartbeat threads open
    # their own connections. One per test process, so two runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/onboarding/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Daphne serves no static files. Embedded mode serves them itself (the demo,
# the browser tests); production puts a proxy or CDN in front of STATIC_ROOT.
SERVE_STATIC = env_bool("SERVE_STATIC", default=EMBEDDED)

# --- GitHub -----------------------------------------------------------------
GITHUB_API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
# GitHub Enterprise Server answers GraphQL on /api/graphql, not <api>/graphql.
GITHUB_GRAPHQL_URL = os.environ.get("GITHUB_GRAPHQL_URL", f"{GITHUB_API_URL}/graphql").rstrip("/")
GITHUB_WEB_URL = os.environ.get("GITHUB_WEB_URL", "https://github.com").rstrip("/")
GITHUB_CLIENT_ID = os.environ.get("GITHUB_CLIENT_ID", "")
GITHUB_CLIENT_SECRET = os.environ.get("GITHUB_CLIENT_SECRET", "")
GITHUB_CONNECT_TIMEOUT = env_float("GITHUB_CONNECT_TIMEOUT", 5.0)
# GitHub's own GraphQL timeout is 10 s; anything much longer is a hung socket.
GITHUB_READ_TIMEOUT = env_float("GITHUB_READ_TIMEOUT", 30.0)
GITHUB_MAX_RETRIES = int(os.environ.get("GITHUB_MAX_RETRIES", "5"))
GITHUB_BACKOFF_SECONDS = env_float("GITHUB_BACKOFF_SECONDS", 1.0)
GITHUB_BACKOFF_MAX_SECONDS = env_float("GITHUB_BACKOFF_MAX_SECONDS", 30.0)

# --- Sync -------------------------------------------------------------------
SYNC_HEARTBEAT_SECONDS = env_float("SYNC_HEARTBEAT_SECONDS", 5.0)
SYNC_STALL_SECONDS = env_float("SYNC_STALL_SECONDS", 45.0)
SYNC_PROGRESS_INTERVAL_SECONDS = env_float("SYNC_PROGRESS_INTERVAL_SECONDS", 1.0)
# How often the watcher re-derives run states, pushes their changes and looks for lost messages.
SYNC_WATCH_SECONDS = env_float("SYNC_WATCH_SECONDS", 2.0)
# How often a web process joins each team's event group again (a restarted
# Redis forgets groups; a failed layer is joined again at once, with fresh snapshots).
SYNC_FANOUT_RENEW_SECONDS = env_float("SYNC_FANOUT_RENEW_SECONDS", 30.0)
# A run whose worker died is restarted once by the watcher when a worker is alive.
SYNC_AUTO_RECOVER = env_bool("SYNC_AUTO_RECOVER", default=True)
# Hard ceiling for one sync message; a large organisation's first sync is
# hours at worst, and a run past this is resumed from its checkpoints.
SYNC_TIME_LIMIT_SECONDS = int(os.environ.get("SYNC_TIME_LIMIT_SECONDS", str(6 * 3600)))

# --- Dramatiq and Channels --------------------------------------------------
_dramatiq_middleware = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    # A sync stops at a safe point on SIGTERM (no asynchronous exception: see integrations/shutdown.py).
    "integrations.shutdown.CooperativeShutdown",
    "dramatiq.middleware.CurrentMessage",
    "django_dramatiq.middleware.AdminMiddleware",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
]
if EMBEDDED:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        # RememberEnqueued: the in-process broker holds only what this process enqueued (integrations.sync.lost).
        "MIDDLEWARE": [*_dramatiq_middleware, "integrations.enqueued_here.RememberEnqueued"],
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": REDIS_URL, "namespace": os.environ.get("DRAMATIQ_NAMESPACE", "dramatiq")},
        # WorkerPresence: each worker process announces itself, so "no worker is running" is a fact.
        "MIDDLEWARE": [*_dramatiq_middleware, "integrations.workers.WorkerPresence"],
    }
    # Shared by every web process (the fetched repository list, between listing and starting).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "cache"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's default 5 s read timeout equals channels-redis's 5 s
            # blocking pop: a quiet socket would die every few seconds.
            "CONFIG": {
                # redis-py 8's pool holds 100 connections and fails at once past
                # them: one per open page's consumer would drop pages past 100.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "max_connections": 1000}],
                "prefix": os.environ.get("CHANNELS_PREFIX", "asgi"),
            },
        }
    }
DRAMATIQ_TASKS_DATABASE = "default"
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
# Starts a worker thread and the watcher thread inside the web process (embedded mode only).
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", default=EMBEDDED)

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()},
        "urllib3": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
