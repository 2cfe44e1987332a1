"""Settings, all read from environment variables, with defaults that work on a laptop.

Every variable is listed in README.md. The embedded default is SQLite plus a local broker on
127.0.0.1:9092; PostgreSQL is chosen through the same DATABASE_URL.
"""

import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """A header name such as `X-Forwarded-Proto` that says `https`, as Django's META key pair."""
    header = env_str(name, "").strip()
    if not header:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(
            f"{name} must be a header name such as X-Forwarded-Proto, got {header!r}"
        )
    return ("HTTP_" + header.upper().replace("-", "_"), "https")


DEBUG = env_bool("DEBUG", False)
# With DEBUG off there is no default key: a key written in this file would let anyone forge
# sessions, CSRF tokens and password-reset links. Only DEBUG (`make run`) falls back to one. The
# django-stubs mypy plugin imports these settings to read INSTALLED_APPS; it serves and signs
# nothing, so it needs no key either.
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY.strip():
    if not DEBUG and "mypy_django_plugin" not in sys.modules:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY to a long random value that "
            "you keep secret and the same in every process, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(50))"`; '
            "or set DEBUG=1 (local development only)."
        )
    SECRET_KEY = "insecure-development-key-used-only-with-DEBUG-on"
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY is too short or too simple for DEBUG off: use at least 50 random "
        'characters, e.g. `python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# HTTPS. All off by default, so that `make run` and docker-compose.yml work over plain HTTP;
# README "Production settings" lists what to set behind TLS (then `check --deploy` is clean).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The health check answers over plain HTTP too, so a probe inside the network needs no TLS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# Behind a proxy that terminates TLS: the header it sets to `https` (e.g. X-Forwarded-Proto). The
# proxy must overwrite a client's own copy of it. Empty = the connection's own scheme.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    # stats first so its admin/index.html (a link to the dashboard) overrides the admin's own.
    "stats",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",  # the login throttle (see AXES_* below)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from STATIC_URL (no CDN)
    "impressions",
]

MIDDLEWARE = [
    # First, so that it counts and times every answer, refusals included (adsite/metrics.py).
    "adsite.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A Content-Type header Django cannot parse is a 400 here, not a 500 (adsite/middleware.py).
    "adsite.middleware.RejectUnparsableContentTypeMiddleware",
    # A NUL in the path or query string is a 400 for every page, the admin's filters included.
    "adsite.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # A statement PostgreSQL cancelled (DB_STATEMENT_TIMEOUT_MS) is a 503, not a 500.
    "adsite.db_timeouts.StatementTimeoutMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts only from this site, so no page runs inline or
# foreign script; nothing loads from another origin. Styles may be inline (the admin and
# Swagger UI use style attributes), and images may be data: URLs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "adsite.urls"
WSGI_APPLICATION = "adsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "adsite" / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,  # a kept connection that died with a server restart is replaced
    )
}
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # A server that does not answer fails the connection in seconds, not the OS's minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the consumer write to one file: WAL lets readers run beside the writer,
    # IMMEDIATE takes the write lock at BEGIN so two writers queue instead of deadlocking.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".local" / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Set STATIC_ROOT (and run collectstatic) in production images; otherwise WhiteNoise serves the
# admin's files straight from the apps.
STATIC_ROOT = env_str("STATIC_ROOT", "") or None
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Kafka and the pipeline.
KAFKA_BOOTSTRAP_SERVERS = env_list("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
IMPRESSIONS_TOPIC = env_str("IMPRESSIONS_TOPIC", "ad-impressions")
IMPRESSIONS_TOPIC_PARTITIONS = env_int("IMPRESSIONS_TOPIC_PARTITIONS", 3)
KAFKA_REPLICATION_FACTOR = env_int("KAFKA_REPLICATION_FACTOR", 1)
STATS_CONSUMER_GROUP = env_str("STATS_CONSUMER_GROUP", "stats-service")
# How long the to-be API waits for the broker's acknowledgement before it answers 503.
KAFKA_PUBLISH_TIMEOUT_SECONDS = env_float("KAFKA_PUBLISH_TIMEOUT_SECONDS", 5.0)
# How long the stats API and dashboard wait for the broker when they read end offsets.
KAFKA_ADMIN_TIMEOUT_SECONDS = env_float("KAFKA_ADMIN_TIMEOUT_SECONDS", 3.0)

# --- Issue 11, part 1: recovery after a crash (static group membership, session timeout) ---
# Each `runconsumer` joins as a static member (KIP-345) named CONSUMER_INSTANCE_ID, by default
# `<hostname>-<CONSUMER_SLOT>`: a crashed process restarted under the same name gets its
# partitions back at once. Processes sharing a host need distinct slots (or ids).
# CONSUMER_STATIC_MEMBERSHIP=0 joins as a dynamic member instead. CONSUMER_LEAVE_ON_STOP=0 keeps
# a static member in the group after SIGTERM (a restart within the session timeout then causes no
# rebalance, but a stop for good leaves its partitions idle until the timeout). The session
# timeout: short = a dead member's partitions move quickly, but a pause that long evicts a
# live one; long = fewer needless evictions, a dead dynamic member holds partitions longer.
KAFKA_SESSION_TIMEOUT_MS = env_int("KAFKA_SESSION_TIMEOUT_MS", 10_000)
if not 6_000 <= KAFKA_SESSION_TIMEOUT_MS <= 1_800_000:
    raise ImproperlyConfigured(
        "KAFKA_SESSION_TIMEOUT_MS must be within the broker's default bounds, 6000..1800000 "
        f"(group.min/max.session.timeout.ms), got {KAFKA_SESSION_TIMEOUT_MS}"
    )
CONSUMER_STATIC_MEMBERSHIP = env_bool("CONSUMER_STATIC_MEMBERSHIP", True)
CONSUMER_INSTANCE_ID = env_str("CONSUMER_INSTANCE_ID", "").strip()
if CONSUMER_INSTANCE_ID and (
    not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", CONSUMER_INSTANCE_ID)
    or CONSUMER_INSTANCE_ID in {".", ".."}
):
    raise ImproperlyConfigured(
        "CONSUMER_INSTANCE_ID must be 1 to 249 of A-Z a-z 0-9 . _ - (or empty for "
        f"<hostname>-<CONSUMER_SLOT>), got {CONSUMER_INSTANCE_ID!r}"
    )
CONSUMER_SLOT = env_int("CONSUMER_SLOT", 0)
if CONSUMER_SLOT < 0:
    raise ImproperlyConfigured(f"CONSUMER_SLOT must be 0 or more, got {CONSUMER_SLOT}")
CONSUMER_LEAVE_ON_STOP = env_bool("CONSUMER_LEAVE_ON_STOP", True)
# --- end of part 1 ---

# Completeness and lag verdicts (issue 11, part 3). The statistics are complete through the
# earliest instant every partition has been read to, minus STATS_ALLOWED_LATENESS_SECONDS (how
# long after its publish time an event may still reach the topic and count on time: the
# producer's delivery delay and the skew between the web servers' and consumers' clocks). The
# consumer marks idle, caught-up partitions and samples lag every STATS_PROGRESS_INTERVAL_SECONDS.
STATS_ALLOWED_LATENESS_SECONDS = env_float("STATS_ALLOWED_LATENESS_SECONDS", 60.0)
STATS_PROGRESS_INTERVAL_SECONDS = env_float("STATS_PROGRESS_INTERVAL_SECONDS", 5.0)
if not 0 <= STATS_ALLOWED_LATENESS_SECONDS <= 7 * 86400:
    raise ImproperlyConfigured(
        "STATS_ALLOWED_LATENESS_SECONDS must be from 0 to 604800 (a week), "
        f"got {STATS_ALLOWED_LATENESS_SECONDS}"
    )
if not 0.1 <= STATS_PROGRESS_INTERVAL_SECONDS <= 3600:
    raise ImproperlyConfigured(
        "STATS_PROGRESS_INTERVAL_SECONDS must be from 0.1 to 3600, "
        f"got {STATS_PROGRESS_INTERVAL_SECONDS}"
    )

# --- Issue 12, part 1: the delivery-semantics lab (docs/semantics.md) ---
# A crash point for `runconsumer`, used only by `manage.py semanticslab` and its tests: the
# process SIGKILLs itself at STATS_LAB_CRASH_POINT (after-kafka-commit or after-db-commit) of its
# STATS_LAB_CRASH_BATCH-th batch (from 1). Empty (the default): no crash point, and the default
# `--semantics exactly-once` runs today's path unchanged.
STATS_LAB_CRASH_POINT = env_str("STATS_LAB_CRASH_POINT", "") or None
STATS_LAB_CRASH_BATCH = env_int("STATS_LAB_CRASH_BATCH", 1)
if STATS_LAB_CRASH_POINT not in (None, "after-kafka-commit", "after-db-commit"):
    raise ImproperlyConfigured(
        "STATS_LAB_CRASH_POINT must be after-kafka-commit, after-db-commit or empty (no crash), "
        f"got {STATS_LAB_CRASH_POINT!r}"
    )
if STATS_LAB_CRASH_BATCH < 1:
    raise ImproperlyConfigured(
        "STATS_LAB_CRASH_BATCH must be 1 or more (the batch to crash in), "
        f"got {STATS_LAB_CRASH_BATCH}"
    )
# --- end of issue 12, part 1 ---

# Ingest limits (both paths).
INGEST_MAX_EVENTS = env_int("INGEST_MAX_EVENTS", 1000)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024)
INGEST_THROTTLE_RATE = env_str("INGEST_THROTTLE_RATE", "100/second") or None
if INGEST_THROTTLE_RATE is not None and not re.fullmatch(
    r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", INGEST_THROTTLE_RATE
):
    raise ImproperlyConfigured(
        f"INGEST_THROTTLE_RATE must be N/period (period second, minute, hour or day), e.g. "
        f"100/second, or empty to turn throttling off; got {INGEST_THROTTLE_RATE!r}"
    )
INGEST_RETRY_AFTER_SECONDS = env_int("INGEST_RETRY_AFTER_SECONDS", 5)

# The cache holds the ingest throttle's per-client history (nothing else uses it). It is a table
# in the database, so every gunicorn worker, every host and `runserver` share one history per
# client, and INGEST_THROTTLE_RATE holds for the client as a whole, not per process.
# impressions/migrations/0003_cache_table creates the table, so every `migrate` does.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
        # About one row per client seen within the throttle's period; past this many rows, a
        # write deletes the expired ones (and, if still too many, a third of the rest).
        "OPTIONS": {"MAX_ENTRIES": 10000},
    }
}

# Login throttle (django-axes) on every password login: the admin's and the browsable API's
# (/api/auth/login/). LOGIN_FAILURE_LIMIT failed logins for one username from one client address
# (resolved as for the ingest throttle, see TRUSTED_PROXIES) within LOGIN_LOCKOUT_MINUTES lock that
# pair out for LOGIN_LOCKOUT_MINUTES after the last attempt: 429, even with the right password.
# A successful login clears the count. Attempts are rows in the database (shared by every
# process); `manage.py axes_reset` lifts all lockouts.
AUTHENTICATION_BACKENDS = [
    "impressions.throttling.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be at least 1")
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "impressions.throttling.client_address"
AXES_RESET_ON_SUCCESS = True
# The username as Axes stores it, cut to the user model's 150 characters: a longer one would
# not fit Axes' column (a 500 on PostgreSQL) and can name no user anyway.
AXES_USERNAME_CALLABLE = "impressions.throttling.login_username"

# Retention, pruning and rebuilds (issue 11, part 5; docs/operations.md). A raw impression is
# what makes a resent event id count once, so its row must outlive every copy of the event that
# can still arrive: a client's retry (CLIENT_RETRY_WINDOW_SECONDS after its first send) and the
# topic's record of it, which Kafka keeps up to retention.ms plus segment.ms (it deletes whole
# segments). RAW_IMPRESSION_RETENTION_DAYS below that sum is refused at start-up.
IMPRESSIONS_TOPIC_RETENTION_MS = env_int("IMPRESSIONS_TOPIC_RETENTION_MS", 7 * 86_400_000)
IMPRESSIONS_TOPIC_SEGMENT_MS = env_int("IMPRESSIONS_TOPIC_SEGMENT_MS", 86_400_000)
DEAD_LETTER_TOPIC_RETENTION_MS = env_int("DEAD_LETTER_TOPIC_RETENTION_MS", 28 * 86_400_000)
CLIENT_RETRY_WINDOW_SECONDS = env_int("CLIENT_RETRY_WINDOW_SECONDS", 86_400)
RAW_IMPRESSION_RETENTION_DAYS = env_int("RAW_IMPRESSION_RETENTION_DAYS", 30)
# The consumer prunes raw rows every RAW_PRUNE_INTERVAL_SECONDS (0 = never), at most
# RAW_PRUNE_BATCH_ROWS rows per transaction between two polls.
RAW_PRUNE_INTERVAL_SECONDS = env_int("RAW_PRUNE_INTERVAL_SECONDS", 3600)
RAW_PRUNE_BATCH_ROWS = env_int("RAW_PRUNE_BATCH_ROWS", 5000)
if IMPRESSIONS_TOPIC_RETENTION_MS < 3_600_000 or IMPRESSIONS_TOPIC_SEGMENT_MS < 60_000:
    raise ImproperlyConfigured(
        "IMPRESSIONS_TOPIC_RETENTION_MS must be at least 3600000 (1 hour) and "
        "IMPRESSIONS_TOPIC_SEGMENT_MS at least 60000; -1 (keep forever) is not supported, since "
        "raw rows could then never be pruned safely"
    )
if DEAD_LETTER_TOPIC_RETENTION_MS < IMPRESSIONS_TOPIC_RETENTION_MS:
    raise ImproperlyConfigured(
        "DEAD_LETTER_TOPIC_RETENTION_MS must be at least IMPRESSIONS_TOPIC_RETENTION_MS "
        f"({IMPRESSIONS_TOPIC_RETENTION_MS}): dead letters wait for an operator"
    )
if CLIENT_RETRY_WINDOW_SECONDS < 0 or RAW_PRUNE_INTERVAL_SECONDS < 0 or RAW_PRUNE_BATCH_ROWS < 1:
    raise ImproperlyConfigured(
        "CLIENT_RETRY_WINDOW_SECONDS and RAW_PRUNE_INTERVAL_SECONDS must be >= 0 and "
        "RAW_PRUNE_BATCH_ROWS >= 1"
    )
# (+ 1 hour for the broker's retention check interval and clock skew: stats/retention.py)
_RAW_MINIMUM_SECONDS = (
    (IMPRESSIONS_TOPIC_RETENTION_MS + IMPRESSIONS_TOPIC_SEGMENT_MS) // 1000
    + CLIENT_RETRY_WINDOW_SECONDS
    + 3600
)
if RAW_IMPRESSION_RETENTION_DAYS * 86_400 < _RAW_MINIMUM_SECONDS:
    raise ImproperlyConfigured(
        f"RAW_IMPRESSION_RETENTION_DAYS={RAW_IMPRESSION_RETENTION_DAYS} would prune raw rows "
        "that a retry or a replay of the topic can still meet (and then count again): it must "
        "cover IMPRESSIONS_TOPIC_RETENTION_MS + IMPRESSIONS_TOPIC_SEGMENT_MS + "
        f"CLIENT_RETRY_WINDOW_SECONDS + 1 hour = {_RAW_MINIMUM_SECONDS / 86_400:.2f} days. "
        f"Raise it to at least {-(-_RAW_MINIMUM_SECONDS // 86_400)}, or shorten the topic's "
        "retention."
    )

# --- Metrics, readiness, timeouts (issue 11, part 4; README "Metrics, readiness, timeouts") ---
# GET /metrics (Prometheus): with METRICS_TOKEN set, only for `Authorization: Bearer <token>`;
# without it, only for a client on the loopback that came straight to the app server (no
# X-Forwarded-For, i.e. not through nginx, whose front answers /metrics 404 anyway).
METRICS_TOKEN = env_str("METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 16 characters (or empty: /metrics only on the loopback)"
    )
# `runconsumer --metrics-port` serves /metrics and /readyz on this address (its default port:
# CONSUMER_METRICS_PORT; 0 = no server).
CONSUMER_METRICS_ADDRESS = env_str("CONSUMER_METRICS_ADDRESS", "127.0.0.1")
CONSUMER_METRICS_PORT = env_int("CONSUMER_METRICS_PORT", 0)
if not 0 <= CONSUMER_METRICS_PORT <= 65535:
    raise ImproperlyConfigured("CONSUMER_METRICS_PORT must be a TCP port, or 0 for no server")
# /readyz waits at most this long for each of its checks (database, broker), run side by side.
READINESS_CHECK_TIMEOUT_SECONDS = env_float("READINESS_CHECK_TIMEOUT_SECONDS", 2.0)
if not 0 < READINESS_CHECK_TIMEOUT_SECONDS <= 30:
    raise ImproperlyConfigured("READINESS_CHECK_TIMEOUT_SECONDS must be above 0 and at most 30")
# PostgreSQL cancels a web request's statement after this many milliseconds (0 = never): the
# request gets a 503 and an abandoned read stops in the server. Set by the WSGI entry point
# (adsite/wsgi.py: gunicorn, runserver) only; runconsumer and management commands run unbounded.
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 5000)
if DB_STATEMENT_TIMEOUT_MS < 0:
    raise ImproperlyConfigured("DB_STATEMENT_TIMEOUT_MS must be 0 (off) or a positive number")
# Probes inside the network need no TLS, as for /healthz.
SECURE_REDIRECT_EXEMPT += [r"^readyz$", r"^metrics$"]

# Dead-letter triage (issue 11, part 2). The consumer's dead-letter breaker: it stops
# dead-lettering a partition (pauses it, reports not ready) when more than
# DEAD_LETTER_BREAKER_SHARE of that partition's last DEAD_LETTER_BREAKER_WINDOW records are
# invalid; a share of 1 turns it off. The admin's dead-letter page mirrors `<topic>.dlq` when
# opened, reading at most DEAD_LETTER_SYNC_MAX_RECORDS within DEAD_LETTER_SYNC_SECONDS
# (`manage.py syncdeadletters` reads the rest).
DEAD_LETTER_BREAKER_SHARE = env_float("DEAD_LETTER_BREAKER_SHARE", 0.5)
DEAD_LETTER_BREAKER_WINDOW = env_int("DEAD_LETTER_BREAKER_WINDOW", 1000)
DEAD_LETTER_SYNC_MAX_RECORDS = env_int("DEAD_LETTER_SYNC_MAX_RECORDS", 5000)
DEAD_LETTER_SYNC_SECONDS = env_float("DEAD_LETTER_SYNC_SECONDS", 3.0)
if not 0 < DEAD_LETTER_BREAKER_SHARE <= 1:
    raise ImproperlyConfigured(
        "DEAD_LETTER_BREAKER_SHARE must be above 0 and at most 1 (1 turns the breaker off), got "
        f"{DEAD_LETTER_BREAKER_SHARE!r}"
    )
if DEAD_LETTER_BREAKER_WINDOW < 1 or DEAD_LETTER_SYNC_MAX_RECORDS < 1:
    raise ImproperlyConfigured(
        "DEAD_LETTER_BREAKER_WINDOW and DEAD_LETTER_SYNC_MAX_RECORDS must be at least 1"
    )
if DEAD_LETTER_SYNC_SECONDS <= 0:
    raise ImproperlyConfigured("DEAD_LETTER_SYNC_SECONDS must be above 0, e.g. 3")

# Performance (issue 13: benchmark, key skew, bounded consumer wait). IMPRESSIONS_KEY_BUCKETS:
# 0 (default) keys each record by its ad id; N >= 1 keys it by `<ad id>:<hash of event id % N>`,
# spreading a busy ad over up to N partitions at the price of per-ad ordering (see
# docs/benchmarks.md, "Key skew"). The consumer's fetch: the broker answers once
# CONSUMER_FETCH_MIN_BYTES are ready or CONSUMER_FETCH_MAX_WAIT_MS have passed, whichever comes
# first; a poll returns what has arrived (up to the batch size), never waiting for a full batch.
IMPRESSIONS_KEY_BUCKETS = env_int("IMPRESSIONS_KEY_BUCKETS", 0)
CONSUMER_FETCH_MIN_BYTES = env_int("CONSUMER_FETCH_MIN_BYTES", 1)
CONSUMER_FETCH_MAX_WAIT_MS = env_int("CONSUMER_FETCH_MAX_WAIT_MS", 500)
if not 0 <= IMPRESSIONS_KEY_BUCKETS <= 1024:
    raise ImproperlyConfigured("IMPRESSIONS_KEY_BUCKETS must be 0 (key = ad id) to 1024, e.g. 8")
if CONSUMER_FETCH_MIN_BYTES < 1 or not 0 <= CONSUMER_FETCH_MAX_WAIT_MS <= 10_000:
    raise ImproperlyConfigured(
        "CONSUMER_FETCH_MIN_BYTES must be at least 1 and CONSUMER_FETCH_MAX_WAIT_MS 0 to 10000 "
        "(the longest a fetch waits for more data), e.g. 1 and 500"
    )

# --- Issue 13, part 2 (a faster consumer): durability of the consumer's own commits ---
# PostgreSQL's synchronous_commit on the consumer's database sessions only (web requests keep
# the server's setting). "off": a commit returns before its WAL reaches disk; a server crash
# can then forget the last commits, offsets and all, and the consumer re-reads the ledger
# whenever its session was replaced, so those batches are replayed (docs/architecture.md,
# "Asynchronous commit"). "on" (or local, remote_write, remote_apply) waits for the flush.
CONSUMER_SYNCHRONOUS_COMMIT = os.environ.get("CONSUMER_SYNCHRONOUS_COMMIT", "off").strip().lower()
if CONSUMER_SYNCHRONOUS_COMMIT not in ("on", "off", "local", "remote_write", "remote_apply"):
    raise ImproperlyConfigured(
        "CONSUMER_SYNCHRONOUS_COMMIT must be one of on, off, local, remote_write, remote_apply "
        f"(PostgreSQL's synchronous_commit for the consumer), not {CONSUMER_SYNCHRONOUS_COMMIT!r}"
    )

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # How many proxies in front of the web server append to X-Forwarded-For; 0 = use the
    # client address itself, so a client cannot dodge the ingest throttle with a made-up header.
    "NUM_PROXIES": env_int("TRUSTED_PROXIES", 0),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema (/api/schema/) and Swagger UI (/api/docs/), both public; the UI's files come
# from drf-spectacular-sidecar under STATIC_URL, so the docs load nothing from other hosts.
SPECTACULAR_SETTINGS = {
    "TITLE": "Ad-impression statistics API",
    "DESCRIPTION": (
        "Ingest ad impressions (to-be: published to Kafka; as-is: written to the database in "
        "the request) and read per-ad statistics. The ingest endpoints are public and "
        "throttled; the statistics endpoints need `Authorization: Token <key>` or an admin "
        "session (anonymous requests get 401)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl null: no badge fetched from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "impressions": {"level": env_str("LOG_LEVEL", "INFO")},
        "stats": {"level": env_str("LOG_LEVEL", "INFO")},
        "kafka": {"level": "CRITICAL"},
    },
}

# --- The migration, live (issue 14; README "See the migration for yourself") ---
# /demo/migration/ (staff) always shows the two paths side by side; its controls (start simulated
# traffic on both paths, stall the raw impressions table for 5-30 s) exist only with
# DEMO_CONTROLS on: `make run` turns it on, production settings and docker-compose leave it off.
DEMO_CONTROLS = env_bool("DEMO_CONTROLS", False)
