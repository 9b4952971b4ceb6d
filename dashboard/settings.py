"""callops settings: every value comes from the environment through the typed helpers in env.py.

Embedded default (no variables set): SQLite in WAL mode under var/, a file-system Celery broker,
secrets kept in var/. Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY,
CALLOPS_ENCRYPTION_KEYS, ALLOWED_HOSTS and CALLOPS_HTTPS=true.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from dashboard import workers
from dashboard.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    keep_private,
    local_secret,
    random_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CALLOPS_VAR_DIR", str(BASE_DIR / "var")))  # type: ignore[arg-type]
# Before any file is written there: 0700 var/, 0600 files, for this process and its children.
keep_private(VAR_DIR)

DEBUG = env_bool("DEBUG", default=False)
HTTPS = env_bool("CALLOPS_HTTPS", default=False)

# A secret from the environment wins; otherwise one generated for this machine (see env.py).
SECRET_KEY_FROM_ENV = env_str("SECRET_KEY") is not None
SECRET_KEY = env_str("SECRET_KEY") or local_secret(VAR_DIR / "secret_key", random_secret_key)

ENCRYPTION_KEYS_FROM_ENV = env_str("CALLOPS_ENCRYPTION_KEYS") is not None
# Comma-separated Fernet keys, newest first: the first encrypts, all decrypt (rotation).
CALLOPS_ENCRYPTION_KEYS = env_list(
    "CALLOPS_ENCRYPTION_KEYS",
    [local_secret(VAR_DIR / "encryption_key", lambda: Fernet.generate_key().decode())]
    if not ENCRYPTION_KEYS_FROM_ENV
    else [],
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "axes",
    "csp",
    "django_prometheus",
    "accounts",
    "dashboard",
    "analytics",
    "quality",
    "vendors",
    "contacts",
    "calls",
    "campaigns",
]

MIDDLEWARE = [
    # First: every line logged while a request runs carries its id (accounts/request_id.py).
    "accounts.request_id.request_id_middleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # /healthz, /readyz and /metrics, before the host check and the HTTPS redirect: probes and
    # scrapers come by IP address over plain HTTP (dashboard/health.py).
    "dashboard.health.probes_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication and CSP, so its 400 page has the layout and the headers of any page.
    "accounts.middleware.refuse_nul_in_query",
    # Request latency by view (django-prometheus), measured around the view.
    "dashboard.metrics.RequestLatencyMiddleware",
    # Last, as django-axes asks: it answers a locked-out login before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # Partials (`page.html#region`) resolved over the usual cached loaders.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": [
                "template_partials.templatetags.partials",
                "dashboard.templatetags.human",
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "dashboard.context_processors.navigation",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'callops.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write at once: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN (no deadlock-prone lock upgrades), and the busy timeout makes
    # a writer wait its turn instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    # A file, not memory, so tests can share the database with worker processes they start;
    # named per test run so two runs on one machine never share (or delete) each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-callops-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Whether every process sees the same cache (coordination through it is then possible).
CALLOPS_SHARED_CACHE = bool(REDIS_URL)
if REDIS_URL:
    CACHES = {
        # Django's Redis cache, reusing its Redis client (dashboard/cache.py).
        "default": {"BACKEND": "dashboard.cache.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

# Lock a username after repeated failures wherever they come from, and an address after failures
# across usernames. The address is the connection's (a spoofed X-Forwarded-For buys no more
# guesses), or behind CALLOPS_TRUSTED_PROXIES proxies the one the first of them saw
# (accounts/client_address.py).
CALLOPS_TRUSTED_PROXIES = env_int("CALLOPS_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.client_address"
AXES_FAILURE_LIMIT = env_int("CALLOPS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CALLOPS_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_AGE = env_int("CALLOPS_SESSION_HOURS", 12, minimum=1) * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- HTTPS and security headers ---------------------------------------------------------------
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# htmx is configured (meta htmx-config) to need neither eval nor inline styles or scripts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- i18n / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the app folders so a fresh clone needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Uploads ----------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Celery -----------------------------------------------------------------------------------
# Embedded default: a SQLite file through kombu's SQLAlchemy transport, which needs no server
# and, unlike the file-system transport, never hands a worker a half-written message; polled
# ten times a second (dashboard/broker.py says why). kombu takes a transport class only from
# this setting, never from the URL.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or f"sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
if CELERY_BROKER_URL.startswith("sqlite:"):
    CELERY_BROKER_TRANSPORT = "dashboard.broker:Transport"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    # The file-system transport expects its folders to exist before any process starts.
    for _folder in ("processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("sqla+", "sqlite:")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {}  # its options go to SQLAlchemy's create_engine()
else:
    # Longer than any countdown and the hard time limit, so an unacked task is not redelivered
    # while a live worker still runs it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Paced campaigns start their calls on their slots from a worker of their own (`celery worker
# -Q dial`; `make run` and compose.yaml start one): behind the main workers' queue (a round of
# call syncs, an import) a slot's run waited seconds. Without a dial worker the beat still
# runs each campaign every 2 s, so calls start, in bursts (README "Running on several machines").
CALLOPS_DIAL_QUEUE = workers.DIAL_QUEUE
CELERY_TASK_ROUTES = {
    "campaigns.tasks.dispatch_campaign_at_slot": {"queue": CALLOPS_DIAL_QUEUE},
}

# --- Email (alert notifications) ---------------------------------------------------------------
# SMTP in production (EMAIL_HOST …); `make run` prints emails on its console instead.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "callops <callops@localhost>")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # A token first: its authenticate_header makes DRF answer 401 to a request without credentials.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.authentication.ApiTokenRateThrottle"],
    # DRF's own parsers, bounded and checked by the CALLOPS_JSON_* limits below.
    "DEFAULT_PARSER_CLASSES": [
        "accounts.json_input.CheckedJSONParser",
        "accounts.json_input.CheckedFormParser",
        "accounts.json_input.CheckedMultiPartParser",
    ],
    "EXCEPTION_HANDLER": "accounts.api.api_exception_handler",
}
# Requests per API token (DRF rate syntax: N/second, N/minute, N/hour, N/day).
CALLOPS_API_RATE = env_str("CALLOPS_API_RATE", "600/min")
if not re.fullmatch(
    r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", CALLOPS_API_RATE or ""
):
    raise ImproperlyConfigured(
        f"CALLOPS_API_RATE must look like 600/min (per second, min, hour or day), "
        f"not {CALLOPS_API_RATE!r}."
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "callops API",
    "DESCRIPTION": (
        "Trigger and review AI calls, contacts and campaigns. Authenticate with an API token "
        "(`Authorization: Bearer cop_...`, made under Settings → API tokens); the token acts "
        'with its own role. Every error answers `{"error": {"code", "message", "fields"?}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.api.add_error_responses",
    ],
    # One name for a choice set that several serializers use (contacts and campaigns).
    "ENUM_NAME_OVERRIDES": {"ConsentTypeEnum": "contacts.models.ConsentType"},
}

# --- callops ----------------------------------------------------------------------------------
CALLOPS_DEFAULT_REGION = env_str("CALLOPS_DEFAULT_REGION", "US")
CALLOPS_PUBLIC_URL = env_str("CALLOPS_PUBLIC_URL", "http://127.0.0.1:8000")
# The currency of every vendor account's price per minute (ISO 4217 code, shown beside costs).
CALLOPS_CURRENCY = env_str("CALLOPS_CURRENCY", "USD")
# How long a worker owns a vendor request it makes (dispatching a call, a post-call step); after
# that another worker may take it over, with the same idempotency key, so the vendor acts once.
CALLOPS_DISPATCH_LEASE_SECONDS = env_int("CALLOPS_DISPATCH_LEASE_SECONDS", 90, minimum=1)
# A paced campaign's first calls start when it is launched or resumed, not at the dispatcher
# beat's next tick (2 s later). The test suite turns it off (tests/conftest.py): its tasks run
# in the test's own process, so a launch would dial before the test looked at the campaign.
CALLOPS_DISPATCH_AT_LAUNCH = True
# The most calls live at once across every vendor account (0: no total limit); each account
# may have its own limit too (calls/governor.py).
CALLOPS_MAX_LIVE_CALLS = env_int("CALLOPS_MAX_LIVE_CALLS", 0, minimum=0)
# After a post-call step is accepted (an analysis, a Revor job), how long until callops first
# asks the vendor for its result; webhooks usually bring it sooner. Later polls back off.
CALLOPS_POST_CALL_FIRST_POLL_SECONDS = env_int(
    "CALLOPS_POST_CALL_FIRST_POLL_SECONDS", 20, minimum=0
)
# Conversation metrics: a gap where nobody talks longer than this (seconds) is a long silence.
# Stored metrics keep the threshold they were counted with; recompute_conversation_metrics
# applies a new one to stored calls.
CALLOPS_SILENCE_SECONDS = env_int("CALLOPS_SILENCE_SECONDS", 3, minimum=1)
# How long a worker owns a customer push it is sending (vendors' customer import); after that
# the sweeper resumes it from the first batch not recorded (same idempotency keys).
CALLOPS_CUSTOMER_PUSH_LEASE_SECONDS = env_int("CALLOPS_CUSTOMER_PUSH_LEASE_SECONDS", 300, minimum=1)
# The largest contact CSV accepted. The file is stored in the database and read back as a
# stream; on PostgreSQL checked rows go to a staging table as they come, so a worker holds the
# file once plus a set of its numbers (SQLite keeps the rows in memory, several times the file).
CALLOPS_CONTACT_IMPORT_MAX_BYTES = env_int(
    "CALLOPS_CONTACT_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1
)
# The most columns a contact CSV may have: more is refused at upload (the mapping page shows a
# choice per column).
CALLOPS_CONTACT_IMPORT_MAX_COLUMNS = env_int("CALLOPS_CONTACT_IMPORT_MAX_COLUMNS", 200, minimum=1)
# Processes that check the rows of a large import (0: one per core).
CALLOPS_CONTACT_IMPORT_WORKERS = env_int("CALLOPS_CONTACT_IMPORT_WORKERS", 0, minimum=0)
# `make run`: how many new Revont records (human reps' calls) the sandbox makes an hour, so the
# AI calls a person places stay visible in the call log and the review queue.
CALLOPS_DEMO_REVONT_RECORDS_PER_HOUR = env_int("CALLOPS_DEMO_REVONT_RECORDS_PER_HOUR", 4, minimum=1)
# What an API body (and a page form's JSON field) may hold (dashboard/json_input.py): a larger
# body is a 413, anything past the other limits a 400 naming the field. 100,000 items per array
# is what POST /api/v1/campaigns/ takes as picked contacts.
CALLOPS_JSON_MAX_BODY_BYTES = env_int("CALLOPS_JSON_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1)
CALLOPS_JSON_MAX_DEPTH = env_int("CALLOPS_JSON_MAX_DEPTH", 32, minimum=2)
CALLOPS_JSON_MAX_KEYS = env_int("CALLOPS_JSON_MAX_KEYS", 1000, minimum=1)
CALLOPS_JSON_MAX_ITEMS = env_int("CALLOPS_JSON_MAX_ITEMS", 100_000, minimum=1)
CALLOPS_JSON_MAX_STRING_CHARS = env_int("CALLOPS_JSON_MAX_STRING_CHARS", 65_536, minimum=1)

# --- Health and metrics (README "Health and metrics") -----------------------------------------
# Each /readyz check (database, migrations, broker, cache) gives up after this many seconds.
CALLOPS_READY_CHECK_SECONDS = env_int("CALLOPS_READY_CHECK_SECONDS", 2, minimum=1)
# A scrape of /metrics must carry `Authorization: Bearer <token>` when this is set.
CALLOPS_METRICS_TOKEN = env_str("CALLOPS_METRICS_TOKEN") or None
# Addresses /metrics answers (REMOTE_ADDR, comma-separated networks). Without a token only
# loopback, so an install that configured nothing serves its metrics to no one outside.
_LOOPBACK = ["127.0.0.0/8", "::1/128"]
_ANYWHERE = ["0.0.0.0/0", "::/0"]
try:
    CALLOPS_METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network, strict=False)
        for network in env_list(
            "CALLOPS_METRICS_ALLOWED_NETWORKS", _ANYWHERE if CALLOPS_METRICS_TOKEN else _LOOPBACK
        )
    ]
except ValueError as exc:
    raise ImproperlyConfigured(
        f"CALLOPS_METRICS_ALLOWED_NETWORKS must be comma-separated networks such as "
        f"10.0.0.0/8, not {os.environ.get('CALLOPS_METRICS_ALLOWED_NETWORKS')!r}"
    ) from exc

# --- Logging ----------------------------------------------------------------------------------
# `json`: one JSON object a line (production; python-json-logger on the standard logging that
# Django, Celery and gunicorn already write to). `text`: lines for people (`make run`, DEBUG).
CALLOPS_LOG_FORMAT = env_str("CALLOPS_LOG_FORMAT") or ("text" if DEBUG else "json")
if CALLOPS_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(
        f"CALLOPS_LOG_FORMAT must be json or text, not {CALLOPS_LOG_FORMAT!r}"
    )

# Every line goes through one handler that masks webhook URL tokens (dashboard/log_redaction.py)
# and adds the id of the request (or the task's request) it belongs to (accounts/request_id.py),
# Django's own loggers' lines included.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_webhook_tokens": {"()": "dashboard.log_redaction.RedactWebhookTokens"},
        "request_id": {"()": "accounts.request_id.RequestIdFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "dashboard.log_format.JsonLines"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": CALLOPS_LOG_FORMAT,
            "filters": ["redact_webhook_tokens", "request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # Without Django's default handlers, which would print the same lines unmasked.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # Python's warnings (captured in dashboard/apps.py) through the one handler above only.
        "py.warnings": {"handlers": [], "level": "WARNING", "propagate": True},
    },
}
