"""faceweb settings: one module, driven by environment variables, safe laptop defaults.

Every knob is an environment variable (listed in README.md). Bad values fail at start-up with
the variable's name, never later in a request or a job.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    try:
        return default if value in (None, "") else float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value in (None, "") else int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as ``600/min`` (per second, minute, hour or day)."""
    value = os.environ.get(name) or default
    count, _, period = value.partition("/")
    if not count.isdigit() or period[:1] not in {"s", "m", "h", "d"}:
        raise ValueError(f"{name} must look like 600/min (per s, min, hour or day), got {value!r}")
    return value


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name such as ``Europe/Paris``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = os.environ.get(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name} must be a time zone such as Europe/Paris, got {value!r}") from None
    return value


def database_from_url(url: str) -> dict:
    """Turn ``postgres://user:password@host:port/name?option=value`` or ``sqlite:///path``
    (four slashes for an absolute path) into a Django ``DATABASES`` entry (PostgreSQL goes
    through psycopg 3)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path[1:])}
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must start with postgres:// or sqlite://, got {url!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
        # Reuse connections between requests; the worker is long-lived as well.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def secret_key_from_file(path: Path) -> str:
    """The key kept in ``path``, made there (random, mode 0600) by the first process to ask.

    The key is written to a file of this process's own, then linked into place, which fails if
    the file exists: the web server, the worker and beat starting together all end up reading
    the one key, never a half-written file.
    """
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "w") as file:
                    file.write(secrets.token_urlsafe(50) + "\n")
                    file.flush()
                    os.fsync(file.fileno())
                os.link(draft, path)
            except FileExistsError:
                pass  # another process linked its key first: use that one
            finally:
                draft.unlink(missing_ok=True)
        key = path.read_text().strip()
    except OSError as error:
        raise RuntimeError(
            f"SECRET_KEY is not set and the key file {path} cannot be read or created ({error}). "
            "Set SECRET_KEY, or FACEWEB_SECRET_KEY_FILE to a file this user can write."
        ) from None
    if len(key) < 50:
        raise RuntimeError(f"the key in {path} is shorter than 50 characters: delete the file "
                           "to have a new one made, or set SECRET_KEY")
    return key


DEBUG = env_bool("DEBUG", True)
# With DEBUG off and no SECRET_KEY, the key is made once and kept in var/secret-key, so that
# sessions survive a restart and every process signs alike. Changing it signs everyone out.
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "dev-insecure-key" if DEBUG else secret_key_from_file(
        Path(os.environ.get("FACEWEB_SECRET_KEY_FILE") or BASE_DIR / "var" / "secret-key")
    )
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# --- HTTPS behind a reverse proxy ---------------------------------------------------------
# FACEWEB_HTTPS=1 when every request reaches the app over HTTPS: plain HTTP is redirected,
# cookies are sent over HTTPS only, and browsers are told (HSTS) to use nothing else for
# FACEWEB_HSTS_SECONDS. The proxy's X-Forwarded-Proto says a request came over HTTPS, and is
# believed only when FACEWEB_TRUSTED_PROXIES (below) says a proxy of yours sets it.
FACEWEB_HTTPS = env_bool("FACEWEB_HTTPS", False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = FACEWEB_HTTPS
SECURE_HSTS_SECONDS = env_int("FACEWEB_HSTS_SECONDS", 365 * 24 * 3600) if FACEWEB_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = FACEWEB_HTTPS
if env_int("FACEWEB_TRUSTED_PROXIES", 0) > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Asking to be on the browsers' built-in HSTS list is the domain owner's decision, for every
# subdomain at once and hard to undo; the app cannot make it for them.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "recognition",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused for too many failures into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "faceweb.urls"
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
                "recognition.views.context.upload_limits",
                "recognition.views.context.features",
            ]
        },
    }
]
WSGI_APPLICATION = "faceweb.wsgi.application"

# Every page needs a signed-in user (the views say so); the login page is Django's own.
LOGIN_URL = "login"

# --- Signing in ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in ("UserAttributeSimilarityValidator", "MinimumLengthValidator",
                 "CommonPasswordValidator", "NumericPasswordValidator")
]
# The sign-in page, the admin's and the API token endpoint lock an account, and separately a
# client address, out for FACEWEB_LOGIN_LOCKOUT_MINUTES after FACEWEB_LOGIN_FAILURE_LIMIT wrong
# passwords in a row (django-axes, counted in the database, so across processes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
FACEWEB_LOGIN_FAILURE_LIMIT = env_int("FACEWEB_LOGIN_FAILURE_LIMIT", 5)
FACEWEB_LOGIN_LOCKOUT_MINUTES = env_int("FACEWEB_LOGIN_LOCKOUT_MINUTES", 15)
# How many proxies of yours stand in front of the app (0: clients connect directly). Only
# then is X-Forwarded-For believed, and only as far as those proxies wrote it.
FACEWEB_TRUSTED_PROXIES = env_int("FACEWEB_TRUSTED_PROXIES", 0)
AXES_FAILURE_LIMIT = FACEWEB_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = FACEWEB_LOGIN_LOCKOUT_MINUTES / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "faceweb.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "faceweb.signin.locked_out"
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "recognition:recognise"
LOGOUT_REDIRECT_URL = "login"

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")),
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server, the worker and beat write the same file: WAL lets readers run beside a
    # writer, IMMEDIATE transactions take the write lock up front (no mid-transaction
    # "database is locked"), and the timeout waits for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
# Times are shown in this zone (with its abbreviation), and dates from a photo's EXIF that
# carry no offset are read in it.
TIME_ZONE = env_time_zone("FACEWEB_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Front-end libraries installed by npm (package.json), served by the app itself: a
    # self-hosted app must work offline, so no CDN.
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
    # face-api (TF.js, bundled) and its weights, for the Live page's in-browser detection.
    ("vendor/face-api", BASE_DIR / "node_modules" / "@vladmandic" / "face-api" / "dist"),
    ("vendor/face-api/model", BASE_DIR / "node_modules" / "@vladmandic" / "face-api" / "model"),
    # TF.js's WebAssembly backend (the same release face-api bundles): many times faster than
    # its plain JavaScript one where there is no GPU.
    ("vendor/tfjs-wasm", BASE_DIR / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist"),
]
# WhiteNoise serves straight from the folders above, so no collectstatic step is needed. A
# deployment that wants one sets STATIC_ROOT and is then served from there too (unset, there is
# no such folder for WhiteNoise to look in, and nothing to warn about).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True
# Photos and crops: no URL maps onto MEDIA_ROOT (recognition/files.py sends each file after
# checking who asks), and the files are not world-readable.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
# Uploads too big for memory are spooled here (recognition.files.UPLOADING_DIR): storing one is
# a rename, and the orphan sweep removes what a web process killed mid-upload left.
FILE_UPLOAD_TEMP_DIR = str(MEDIA_ROOT / "uploading")
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "recognition.files.SpoolingUploadHandler",
]
FACEWEB_FILE_SENDER = os.environ.get("FACEWEB_FILE_SENDER", "")
if FACEWEB_FILE_SENDER not in {"", "x-accel-redirect", "x-sendfile"}:
    raise ValueError("FACEWEB_FILE_SENDER must be x-accel-redirect, x-sendfile or empty, got "
                     f"{FACEWEB_FILE_SENDER!r}")
FACEWEB_FILE_SENDER_PREFIX = os.environ.get("FACEWEB_FILE_SENDER_PREFIX", "/protected-media/")
# Or photos and crops in an S3-compatible bucket (pip install -e '.[s3]'): private, fetched by
# the app only (never a public or signed URL), credentials from AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY; FACEWEB_S3_ENDPOINT for a store other than Amazon's (MinIO, Ceph,
# SeaweedFS). Uploads are still spooled under MEDIA_ROOT, a local folder then.
FACEWEB_S3_BUCKET = os.environ.get("FACEWEB_S3_BUCKET", "")
if FACEWEB_S3_BUCKET:
    if FACEWEB_FILE_SENDER:
        raise ValueError("FACEWEB_FILE_SENDER sends files from a folder: leave it empty with "
                         "FACEWEB_S3_BUCKET")
    STORAGES = {
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": FACEWEB_S3_BUCKET,
            "endpoint_url": os.environ.get("FACEWEB_S3_ENDPOINT") or None,
            "region_name": os.environ.get("FACEWEB_S3_REGION") or None,
            "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
        }},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "recognition": {"handlers": ["console"], "level": "INFO"},
        # Uncaught errors of pages and the API, with their tracebacks, also with DEBUG off.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# --- Jobs (Celery on Redis) ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
# A job is acknowledged only when it has finished, and given back to the queue when its
# worker process dies, so a crash re-runs the photo instead of dropping it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Analyses take a second or more each: a worker takes one job at a time, leaving the rest
# in Redis for other workers.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to an unreachable Redis gives up after ~2 s, so an upload is answered promptly;
# the photo stays pending and the sweep queues it once Redis is back.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_TASK_IGNORE_RESULT = True  # results live in the database, not in Redis
# A worker process loads and warms up its models before reporting for work (5-20 s on a
# busy machine): give it that long before it counts as failed to start.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120
FACEWEB_WARM_UP = env_bool("FACEWEB_WARM_UP", True)  # 0: models load on the first photo
# The periodic tasks (the sweep, the orphan and retention purges) have a queue of their own,
# which workers take from in turn with the photos' queue: a backlog of photos never holds
# back the sweep that recovers lost ones.
# Bulk imports (manage.py import_photos) have one too: an upload waits for at most one import
# job, never for the whole import.
CELERY_TASK_QUEUES = (Queue("celery"), Queue("maintenance"), Queue("import"))
CELERY_TASK_ROUTES = {"recognition.tasks.requeue_stuck_photos": {"queue": "maintenance"},
                      "recognition.tasks.remove_orphan_files": {"queue": "maintenance"},
                      "recognition.tasks.purge_expired_photos": {"queue": "maintenance"}}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

# --- Recognition -------------------------------------------------------------------------------
# Face models: converted weights live here (filled by `manage.py install_models`).
FACEWEB_MODEL_DIR = Path(os.environ.get("FACEWEB_MODEL_DIR", BASE_DIR / "var" / "models"))
FACEWEB_FACE_API_DIR = BASE_DIR / "node_modules" / "@vladmandic" / "face-api" / "model"
# Largest descriptor distance still called the same person. Unset means the pipeline's
# value calibrated on LFW dev (recognition.pipeline.analyse.DEFAULT_THRESHOLD), read in the
# worker so that settings never import the models.
FACEWEB_MATCH_THRESHOLD = env_float("FACEWEB_MATCH_THRESHOLD", None)
# A face whose two nearest people are closer than this in distance is left unknown: the
# gallery cannot tell them apart.
FACEWEB_MATCH_MARGIN = env_float("FACEWEB_MATCH_MARGIN", 0.05)
# Unknown faces are grouped (recognition.pipeline.matching.cluster) while two groups' faces are
# on average at most this far apart; unset: the pipeline's value (spec.DEFAULT_GROUP_THRESHOLD).
# Groups smaller than FACEWEB_GROUP_MIN_SIZE faces are not shown as groups.
FACEWEB_GROUP_THRESHOLD = env_float("FACEWEB_GROUP_THRESHOLD", None)
FACEWEB_GROUP_MIN_SIZE = env_int("FACEWEB_GROUP_MIN_SIZE", 2)
# Faces smaller than this (shorter side of the box, pixels) are not grouped; only the newest
# FACEWEB_GROUP_MAX_FACES unknown faces are (grouping 5,000 takes ~2 s and 100 MB).
FACEWEB_GROUP_MIN_FACE_PX = env_int("FACEWEB_GROUP_MIN_FACE_PX", 40)
# Nor when the detector was less sure of it than this (RetinaFace keeps faces from 0.75; most
# of its false detections score below 0.9).
FACEWEB_GROUP_MIN_SCORE = env_float("FACEWEB_GROUP_MIN_SCORE", 0.9)
FACEWEB_GROUP_MAX_FACES = env_int("FACEWEB_GROUP_MAX_FACES", 5000)
# A face smaller than this (shorter side of its box, pixels) is refused as a reference photo:
# too little detail to stand for a person (the detector itself finds faces from about 10 px).
# The same size as FACEWEB_GROUP_MIN_FACE_PX.
FACEWEB_ENROL_MIN_FACE_PX = env_int("FACEWEB_ENROL_MIN_FACE_PX", 40)
# A face whose crop is less sharp than this (recognition.pipeline.quality.sharpness) is
# neither enrolled nor grouped. On WIDER FACE's labelled faces (bench/face_quality.py) it
# refuses 5% of the clear faces, 57% of the blurred and 86% of the heavily blurred.
FACEWEB_MIN_SHARPNESS = env_float("FACEWEB_MIN_SHARPNESS", 8.0)
# A face turned further aside than this (|yaw| in degrees, recognition.pipeline.quality.pose)
# is refused as a reference photo. On the dev data (bench/face_quality.py) it refuses 1% of
# LFW's faces and half of WIDER FACE's faces labelled atypical pose.
FACEWEB_ENROL_MAX_YAW = env_float("FACEWEB_ENROL_MAX_YAW", 45.0)
# Passive liveness (README "Liveness"): a camera face whose liveness score (the probability
# that it is a live person's, not a print) is below this counts as not live. Calibrated by
# `manage.py train_liveness` (report.json, threshold) for the shipped model.
FACEWEB_LIVENESS_THRESHOLD = env_float("FACEWEB_LIVENESS_THRESHOLD", 0.288)
# Active liveness (README "Liveness"): a challenge must be answered within this many seconds,
# and a passed one vouches for a webcam enrolment snapshot taken within the second figure.
FACEWEB_LIVENESS_CHALLENGE_S = env_int("FACEWEB_LIVENESS_CHALLENGE_S", 30)
FACEWEB_LIVENESS_TOKEN_S = env_int("FACEWEB_LIVENESS_TOKEN_S", 120)
# Webcam enrolment on the People pages asks for the active check first.
FACEWEB_ENROL_WEBCAM_LIVENESS = env_bool("FACEWEB_ENROL_WEBCAM_LIVENESS", True)
# Up to this many reference faces the gallery is searched exactly (every distance); above, an
# approximate index (HNSW, usearch) that takes new and removed references in place
# (README "Scale"; manage.py benchmark_scale measures both).
FACEWEB_GALLERY_INDEX_ABOVE = env_int("FACEWEB_GALLERY_INDEX_ABOVE", 20000)
# The public evaluation data (../shared/data): the defaults of the benchmark commands.
FACEWEB_DATA_DIR = Path(os.environ.get("FACEWEB_DATA_DIR") or BASE_DIR.parent / "shared" / "data")
# Threads each model runs on in one process. By default this machine's cores (those this
# process may use) shared among FACEWEB_WORKER_CONCURRENCY worker processes, so that N
# workers on N cores do not fight; set it per host when several worker commands share one.
FACEWEB_WORKER_CONCURRENCY = env_int("FACEWEB_WORKER_CONCURRENCY", 1)
FACEWEB_MODEL_THREADS = env_int(
    "FACEWEB_MODEL_THREADS",
    max(1, len(os.sched_getaffinity(0)) // max(1, FACEWEB_WORKER_CONCURRENCY)))
# The Live page asks the server who a face is at most once per this many milliseconds (one
# request at a time, only for faces it has not named yet); within the "analyse" rate below.
FACEWEB_LIVE_IDENTIFY_EVERY_MS = env_int("FACEWEB_LIVE_IDENTIFY_EVERY_MS", 700)
# Estimate each face's age and gender (face-api's network; README "Age and gender"). Off:
# neither computed, nor stored, nor shown, anywhere.
FACEWEB_AGE_GENDER = env_bool("FACEWEB_AGE_GENDER", True)
FACEWEB_MAX_UPLOAD_BYTES = env_int("FACEWEB_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
# An analysis running this long is hung (e.g. a deadlocked library): the pool kills its
# process and starts a fresh one. Leave room for the first photo of a worker process, which
# also loads the models. The thresholds below derive from it.
CELERY_TASK_TIME_LIMIT = env_int("FACEWEB_TASK_TIME_LIMIT_S", 300)
# A claim older than this holds nothing (its analysis would have been killed by now), and a
# photo queued this long ago without being claimed is queued again. A claim whose worker
# process has exited on this host, and a job that Redis lost (services.photos_requeue_stuck),
# are recovered at once, not after this.
FACEWEB_STUCK_AFTER_S = env_int("FACEWEB_STUCK_AFTER_S", CELERY_TASK_TIME_LIMIT + 30)
if FACEWEB_STUCK_AFTER_S <= CELERY_TASK_TIME_LIMIT:
    raise ValueError("FACEWEB_STUCK_AFTER_S must exceed FACEWEB_TASK_TIME_LIMIT_S, or live "
                     "analyses are taken over")
# A photo whose analysis was started this many times without finishing (the worker died on
# it each time) is marked failed rather than retried forever.
FACEWEB_MAX_ATTEMPTS = env_int("FACEWEB_MAX_ATTEMPTS", 3)
# How often the sweep looks for photos a worker or Redis outage left behind: the longest a
# lost job waits once Redis is back.
FACEWEB_SWEEP_INTERVAL_S = env_int("FACEWEB_SWEEP_INTERVAL_S",
                                   max(5, min(15, CELERY_TASK_TIME_LIMIT // 20)))
# Stored files no row points at (a process killed between writing a file and its row) are
# removed by an hourly sweep once they are this old.
FACEWEB_ORPHAN_AFTER_S = env_int("FACEWEB_ORPHAN_AFTER_S", 3600)
if FACEWEB_ORPHAN_AFTER_S < 600:
    raise ValueError("FACEWEB_ORPHAN_AFTER_S must be at least 600: a younger file may still be "
                     "waiting for its row")
# A worker process holding more memory than this after a job is replaced by a fresh one
# (between jobs, never during one; the new one loads the models again, ~5 s). Measured in one
# process (bench/worker_memory.py) when the models ran in TensorFlow: models loaded and a small
# photo 800-830 MiB, after a 14 MP photo 1,310-1,340 MiB, after a 50 MP one 1,590-1,620 MiB,
# kept since. In LiteRT: 422 MiB, then 443 (peak 513) and 476 (peak 549); the bound is left
# about twice that, for a process that leaks, not for big photos.
FACEWEB_WORKER_MAX_MEMORY_MB = env_int("FACEWEB_WORKER_MAX_MEMORY_MB", 1024)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = FACEWEB_WORKER_MAX_MEMORY_MB * 1024  # KiB
# Retention: photos, crops and non-reference faces older than this many days are deleted by a
# daily task (0: kept until someone deletes them). `manage.py purge_expired --dry-run` counts.
FACEWEB_RETENTION_DAYS = env_int("FACEWEB_RETENTION_DAYS", 0)
CELERY_BEAT_SCHEDULE = {
    "requeue-stuck-photos": {
        "task": "recognition.tasks.requeue_stuck_photos",
        "schedule": FACEWEB_SWEEP_INTERVAL_S,
    },
    "reidentify-faces": {
        "task": "recognition.tasks.reidentify_faces",
        "schedule": FACEWEB_SWEEP_INTERVAL_S,
    },
    "group-unknown-faces": {
        "task": "recognition.tasks.group_unknown_faces",
        "schedule": FACEWEB_SWEEP_INTERVAL_S,
    },
    "remove-orphan-files": {
        "task": "recognition.tasks.remove_orphan_files",
        "schedule": 3600,
    },
    "purge-expired-photos": {
        "task": "recognition.tasks.purge_expired_photos",
        "schedule": 24 * 3600,
    },
}
if not FACEWEB_AGE_GENDER:  # estimates stored while it was on are erased at the next sweep
    CELERY_BEAT_SCHEDULE["forget-age-gender"] = {
        "task": "recognition.tasks.forget_age_gender",
        "schedule": FACEWEB_SWEEP_INTERVAL_S,
    }

# --- API (Django REST framework, /api/v1/) -----------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API call gets 401 with a WWW-Authenticate header; the browser's
    # session (with its CSRF check) works as well.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["recognition.api.common.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "recognition.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "recognition.api.errors.exception_handler",
    # Per user (hence per token), per anonymous client IP, and tighter scopes for the
    # synchronous analyses (each takes the web process's analysis slot) and for password
    # guesses at the token endpoint. Counts live in the default cache (per process).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("FACEWEB_API_RATE_ANON", "60/min"),
        "user": env_rate("FACEWEB_API_RATE_USER", "600/min"),
        "analyse": env_rate("FACEWEB_API_RATE_ANALYSE", "30/min"),
        "token": env_rate("FACEWEB_API_RATE_TOKEN", "10/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": FACEWEB_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "faceweb API",
    "DESCRIPTION": "Face recognition: submit photos, poll results, manage people, verify and "
    "identify faces. Errors are JSON: {\"error\": {\"code\", \"message\", \"fields\"?}}.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Multipart uploads appear as files in requests, not as strings in responses.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# submit?wait=N: the longest a client may ask the API to hold a request for a result.
FACEWEB_API_MAX_WAIT_S = env_int("FACEWEB_API_MAX_WAIT_S", 10)
# Verify/identify run the pipeline in the web process, one at a time: a request waits this
# long for its turn, then gets 503 "busy".
FACEWEB_SYNC_WAIT_S = env_float("FACEWEB_SYNC_WAIT_S", 15.0)
