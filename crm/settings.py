"""Postcard settings, read from the environment.

Embedded defaults (SQLite, a filesystem Celery broker) let the product run with nothing installed;
DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis. The development secrets below are public,
so the process refuses to start with them when DEBUG is off.
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue  # type: ignore[attr-defined]  # kombu ships no type hints

from crm.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    require_fernet_keys,
    require_strong_secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("POSTCARD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "postcard-development-secret-key-do-not-use-in-production"  # noqa: S105 (refused below unless DEBUG)
_DEV_FIELD_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"postcard-dev-field-key").digest()
).decode()

SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
# Fernet keys, newest first: the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEY)

if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or _DEV_FIELD_KEY in FIELD_ENCRYPTION_KEYS):
    raise ImproperlyConfigured(
        "DEBUG is off but SECRET_KEY or FIELD_ENCRYPTION_KEYS still hold the public development "
        "defaults. Set both (`python manage.py generate_keys` prints fresh values; see README, "
        "Configuration), or set DEBUG=1 for local development."
    )
# A malformed key would pass every check and fail at the first stored password: refuse it now.
require_fernet_keys("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS)
if not DEBUG:
    require_strong_secret_key("SECRET_KEY", SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here rather than a CDN
    "mptt",
    "hierarchy",
    "crm.core",
    "crm.accounts",
    "crm.contacts",
    "crm.activities",
    "crm.cards",
    "mailsync",
    "calendars",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "crm.core.security.PostcardCSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.core.middleware.UserTimeZoneMiddleware",  # after auth: it reads the user's zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during the view into its response.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:  # runserver serves static files under DEBUG; gunicorn needs WhiteNoise
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'postcard.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while a worker writes; the timeout waits out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The card indexes carry columns with INCLUDE for index-only reads on PostgreSQL; SQLite builds
# the same indexes without them, which is all the embedded default needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTH_USER_MODEL = "hierarchy.User"
# The lockout check comes first so a locked-out username+address never reaches the password check.
AUTHENTICATION_BACKENDS = ["crm.core.security.LockoutBackend", "hierarchy.backends.PostcardBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # meetings, tasks, recent email and mailbox health
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
# Sessions read through the cache (Redis when configured), written through to the database: one
# query less on every page, and a Redis restart logs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Served over HTTPS unless DEBUG; SECURE_COOKIES=0 for a plain-HTTP trial on a private network.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_COOKIES
# Over HTTPS, plain-HTTP requests are redirected and browsers told to stay on HTTPS (HSTS).
SECURE_SSL_REDIRECT = SECURE_COOKIES
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600 if SECURE_COOKIES else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", True)
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto, and take the client's address
# from the last X-Forwarded-For entry (the one the proxy appended) for lockouts and throttles.
BEHIND_PROXY = env_bool("BEHIND_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy on every page: scripts, styles and frames from this origin only, so
# injected markup cannot run script or restyle the page. Admin also allows style attributes
# (django-mptt's tree indents), the API docs their <style> element: crm/core/security.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # the favicon is an inline SVG
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Brute-force protection (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused for LOGIN_LOCKOUT_MINUTES (from the failure
# that locked it) on /login/, /admin/login/ and /api/auth/token/ alike. Support staff unlock it in
# admin (Axes > Access attempts). The token endpoint is also throttled per address below.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries while locked are refused unrecorded: the lock ends on time ("try again in 15 minutes"
# stays true) and a hammering client cannot grow its attempt row (axes appends each try's form).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "crm.core.security.client_ip"
AXES_ENABLE_ADMIN = False  # crm/core/admin.py registers its pages, with an Unlock action
AXES_LOCKOUT_CALLABLE = "crm.core.security.lockout_response"

# Outgoing mail of the CRM itself (notifications, and the fallback mailer for users).
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Postcard <postcard@localhost>")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport, a real broker in a
# folder, so a real worker and beat run with nothing installed (not eager mode).
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _broker_dir = VAR_DIR / "broker"
    # The embedded defaults create their own folders so nothing needs setting up by hand.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast/pidbox, else ./control
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# Two queues, both consumed by every worker (a worker started without -Q takes all of
# task_queues): what a user waits for (a provider's change report, an email being sent) goes on
# "urgent", so it is not queued behind a thousand mailboxes' minute polls; the broker hands the
# queues out in turn.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("urgent"), Queue("celery"))  # type: ignore[no-untyped-call]
CELERY_TASK_ROUTES = {
    "mailsync.tasks.mailbox_wake_task": {"queue": "urgent"},
    "mailsync.tasks.outgoing_send_task": {"queue": "urgent"},
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
MAILBOX_SYNC_INTERVAL_SECONDS = env_int("MAILBOX_SYNC_INTERVAL_SECONDS", 60)
# Messages per transaction (with their cursor): the most a killed worker's successor redoes.
MAILBOX_SYNC_BATCH = env_int("MAILBOX_SYNC_BATCH", 500)
# Larger messages are fetched only in part (their text comes first; attachments are never kept).
MAILBOX_MAX_MESSAGE_BYTES = env_int("MAILBOX_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
# Sending from the CRM (mailsync/sending/): messages a minute and a day through an SMTP server
# and through the CRM's own mailer (Microsoft 365 and Gmail have documented limits: pace.py).
SMTP_SEND_PACE = (env_int("SMTP_SEND_PER_MINUTE", 30), env_int("SMTP_SEND_PER_DAY", 500))
CRM_MAILER_PACE = (env_int("CRM_MAILER_PER_MINUTE", 60), env_int("CRM_MAILER_PER_DAY", 2000))
# The name on mail users send, when they set none: "{first_name} at {company}", say.
SENDER_NAME_PATTERN = env_str("SENDER_NAME_PATTERN", "{full_name}")
COMPANY_NAME = env_str("COMPANY_NAME", "")
SEND_MAX_ATTACHMENTS_BYTES = env_int("SEND_MAX_ATTACHMENTS_BYTES", 20 * 1024 * 1024)
MAILBOX_RECONCILE_INTERVAL_SECONDS = env_int("MAILBOX_RECONCILE_INTERVAL_SECONDS", 6 * 3600)
# IMAP sessions a worker process keeps logged in between syncs (0: log in for every sync). A kept
# session is closed after the idle time, and never reused past the age limit, so a changed
# password is noticed by a fresh login even where the server keeps old sessions open.
MAILBOX_KEPT_CONNECTIONS = env_int("MAILBOX_KEPT_CONNECTIONS", 100)
MAILBOX_CONNECTION_IDLE_SECONDS = env_int("MAILBOX_CONNECTION_IDLE_SECONDS", 300)
MAILBOX_CONNECTION_MAX_AGE_SECONDS = env_int("MAILBOX_CONNECTION_MAX_AGE_SECONDS", 20 * 60)
# Microsoft 365 over Graph (README, "Connecting Microsoft 365"): one app registration in Microsoft
# Entra per installation, set by the operator; users only sign in. Without a client id the
# Mailbox sync page says Microsoft 365 is not set up here.
MICROSOFT_CLIENT_ID = env_str("MICROSOFT_CLIENT_ID", "")
MICROSOFT_CLIENT_SECRET = env_str("MICROSOFT_CLIENT_SECRET", "")
# "organizations" (any work or school account), or one tenant's id or domain.
MICROSOFT_TENANT = env_str("MICROSOFT_TENANT", "organizations")
MICROSOFT_REDIRECT_URI = env_str(
    "MICROSOFT_REDIRECT_URI", f"{SITE_URL}/settings/mailbox/connect/microsoft/callback/"
)
# The sign-in service and Graph: changed only by the tests, which run both here.
MICROSOFT_LOGIN_URL = env_str("MICROSOFT_LOGIN_URL", "https://login.microsoftonline.com")
MICROSOFT_GRAPH_URL = env_str("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0")
# Google Workspace and Gmail over the Gmail API (README, "Connecting Google"): one OAuth client
# (type "Web application") per installation, set by the operator.
GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID", "")
GOOGLE_CLIENT_SECRET = env_str("GOOGLE_CLIENT_SECRET", "")
GOOGLE_REDIRECT_URI = env_str(
    "GOOGLE_REDIRECT_URI", f"{SITE_URL}/settings/mailbox/connect/google/callback/"
)
# Units per user per minute Postcard stays under (Gmail's documented per-user limit is 15,000;
# developers.google.com/gmail/api/reference/quota).
GOOGLE_QUOTA_UNITS_PER_MINUTE = env_int("GOOGLE_QUOTA_UNITS_PER_MINUTE", 15_000)
# Google's sign-in service and the Gmail API: changed only by the tests, which run both here.
GOOGLE_AUTH_URI = env_str("GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/v2/auth")
GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
GOOGLE_REVOKE_URI = env_str("GOOGLE_REVOKE_URI", "https://oauth2.googleapis.com/revoke")
GOOGLE_GMAIL_URL = env_str("GOOGLE_GMAIL_URL", "https://gmail.googleapis.com/")
GOOGLE_CALENDAR_URL = env_str("GOOGLE_CALENDAR_URL", "https://www.googleapis.com/calendar/v3/")
GOOGLE_TASKS_URL = env_str("GOOGLE_TASKS_URL", "https://tasks.googleapis.com/")
# Push (mailsync/push/): where Microsoft and Google reach this server. Empty: SITE_URL when it is
# public HTTPS, else no push (the minute poll alone, said on the settings page).
PUSH_BASE_URL = env_str("PUSH_BASE_URL", "")
# Gmail push: the Pub/Sub topic Gmail publishes to (projects/<project>/topics/<topic>), and the
# push subscription's service account and audience, checked on every push's OIDC token.
GOOGLE_PUBSUB_TOPIC = env_str("GOOGLE_PUBSUB_TOPIC", "")
GOOGLE_PUSH_SERVICE_ACCOUNT = env_str("GOOGLE_PUSH_SERVICE_ACCOUNT", "")
GOOGLE_PUSH_AUDIENCE = env_str("GOOGLE_PUSH_AUDIENCE", "")
GOOGLE_CERTS_URL = env_str("GOOGLE_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {"task": "crm.core.tasks.worker_heartbeat", "schedule": 60.0},
    # The beat only queues mailboxes that are due; each mailbox keeps its own next_sync_at
    # (interval, or backoff after errors).
    "outgoing-send-due": {"task": "mailsync.tasks.outgoing_send_due", "schedule": 30.0},
    # Graph subscriptions renewed before they expire, Gmail watches daily (mailsync/push/).
    "push-renew": {"task": "mailsync.tasks.push_renew_due", "schedule": 3600.0},
    "mailboxes-sync-due": {
        "task": "mailsync.tasks.mailboxes_sync_due",
        "schedule": float(min(MAILBOX_SYNC_INTERVAL_SECONDS, 60)),
    },
    # Calendar pushes whose retry time has come, and any whose queue message was lost.
    "calendar-pushes-due": {"task": "calendars.tasks.calendar_pushes_due", "schedule": 30.0},
    "mailboxes-reconcile": {
        "task": "mailsync.tasks.mailboxes_reconcile",
        "schedule": float(MAILBOX_RECONCILE_INTERVAL_SECONDS),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            # Shared by web, worker and beat, so a lock taken in one is seen in the others.
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "postcard_cache",
        }
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "crm.api.authentication.PostcardTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.StandardPagination",
    # Bounded parsers: a body over DATA_UPLOAD_MAX_MEMORY_SIZE or nested too deep is a 413/400.
    "DEFAULT_PARSER_CLASSES": [
        "crm.api.parsers.JSONParser",
        "crm.api.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth-token": env_str("LOGIN_API_THROTTLE_RATE", "10/min")},
    # Throttles read X-Forwarded-For only behind our own proxy; anyone can send that header.
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Postcard API",
    "DESCRIPTION": "Contacts, accounts, activities and synchronized emails.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # At DEBUG these write OAuth codes, PKCE verifiers and tokens into the log: never.
        "requests_oauthlib": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
    },
}

# Cross-mailbox visibility: the most mailboxes one user may see, their own included.
VISIBILITY_MAILBOX_CAP = env_int("VISIBILITY_MAILBOX_CAP", 25)
