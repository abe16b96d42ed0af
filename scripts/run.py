"""Run faceweb on one machine: Redis (unless one is already listening at REDIS_URL), the web
server, a Celery worker and Celery beat, each logging to var/log/<name>.log; prints where the
app is and how to sign in.

Production by default: the web server is gunicorn, and DEBUG is off unless set in the
environment (the secret key is then made once in var/secret-key, see faceweb/settings.py).
``--dev`` runs Django's development server instead, with auto-reload and DEBUG on.

A service that exits on its own is started again after a pause: 1 s, doubling up to 30 s, back
to 1 s once it has stayed up for a minute. Each exit and start is written to var/log/run.log,
and each exit is also printed. Ctrl-C or SIGTERM stops every service, Redis last.

Used by ``make run`` and ``make dev``; run from the repository root with the virtualenv's
Python. Environment: REDIS_URL; FACEWEB_ADDR (the web server's address, default
127.0.0.1:8000); FACEWEB_WEB_WORKERS and FACEWEB_WEB_THREADS (gunicorn processes, default 2,
and threads in each, default 4); FACEWEB_WORKER_CONCURRENCY (worker processes, default 1:
each model already runs on 2 threads); FACEWEB_RUN_DIR (where the logs, Redis's data and beat's
schedule go, default var). Everything else in the environment reaches the services unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
RUN_DIR = Path(os.environ.get("FACEWEB_RUN_DIR") or REPO / "var").resolve()
LOGS = RUN_DIR / "log"
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
STABLE_AFTER_S = 60.0  # a service up this long has recovered: its next pause is 1 s again
STOP_WAIT_S = 25  # before SIGKILL; gunicorn gives requests in flight 20 s of it


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def answering(host: str, port: int) -> bool:
    """Whether an HTTP server answers there: gunicorn listens before its workers have booted,
    and its port stays open until it gives up on workers that cannot."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("HEAD", "/")
        connection.getresponse()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def redis_address() -> tuple[str, int]:
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return url.hostname or "127.0.0.1", url.port or 6379


def redis_command() -> list[str] | None:
    """The command that starts a local Redis, None if one is already reachable; exits with
    a message saying what to do when neither is possible."""
    host, port = redis_address()
    if listening(host, port):
        if not redis_persistent():
            print(f"run: warning: the Redis already running at {host}:{port} keeps nothing across "
                  "a restart (no append-only file, no snapshots): queued photos wait for the sweep "
                  "after one. Set `appendonly yes` in its configuration (Debian: "
                  "/etc/redis/redis.conf), or stop it and let make run start its own.")
        return None
    if host not in LOCAL_HOSTS:
        sys.exit(f"run: Redis at {host}:{port} (REDIS_URL) is not reachable")
    server = shutil.which("redis-server")
    if server is None:
        sys.exit(
            "run: Redis is not running and redis-server is not installed.\n"
            "     Install it with `sudo apt-get install redis-server`, or point REDIS_URL at a "
            "running Redis."
        )
    directory = RUN_DIR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    # The queue survives a crash or a restart: every write is on disk within a second.
    return [server, "--port", str(port), "--bind", host, "--dir", str(directory),
            "--appendonly", "yes", "--appendfsync", "everysec"]


def redis_persistent() -> bool:
    """Whether the Redis at REDIS_URL keeps its data across a restart (True when it cannot
    tell: a managed Redis may refuse CONFIG)."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                                  socket_timeout=2, socket_connect_timeout=2)
    try:
        with client:
            config = {**client.config_get("appendonly"), **client.config_get("save")}
    except redis.RedisError:
        return True
    return config.get("appendonly") == "yes" or bool(config.get("save", "").strip())


def env_count(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"run: {name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def web_command(address: str, *, dev: bool) -> list[str]:
    if dev:
        return [sys.executable, "manage.py", "runserver", address]
    return [
        sys.executable, "-m", "gunicorn", "faceweb.wsgi", "--bind", address,
        "--config", "python:faceweb.gunicorn",  # each process warms up the models
        # Threads, so that a request waiting for a verify/identify slot or for ?wait= does
        # not hold a whole process. No --preload: each process imports the app, and loads
        # the models, only after the fork (the interpreters' thread pools do not survive one).
        "--worker-class", "gthread",
        "--workers", str(env_count("FACEWEB_WEB_WORKERS", 2)),
        "--threads", str(env_count("FACEWEB_WEB_THREADS", 4)),
        # A process silent towards the master for 60 s is replaced; on stop, requests in
        # flight get 20 s to finish.
        "--timeout", "60", "--graceful-timeout", "20",
        "--access-logfile", "-",
        # This runner manages the server; gunicorn's control socket would otherwise be
        # ~/.gunicorn/gunicorn.ctl, one for every gunicorn of the user.
        "--no-control-socket",
    ]


@dataclass
class Service:
    """One supervised process, started again with a growing pause when it exits on its own."""

    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    pause: float = FIRST_PAUSE_S
    start_at: float | None = None  # when a service that exited is to be started again

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name}.log"

    def start(self) -> None:
        # Own process group each: the terminal's Ctrl-C reaches only this script, which
        # then stops the services in order, children (gunicorn's workers, the runserver
        # reloader) included. Their output goes to the log folder, so the terminal keeps
        # only the banner and the exits.
        with self.log.open("a") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, start_new_session=True,
                                            stdout=log, stderr=subprocess.STDOUT)
        self.started_at, self.start_at = time.monotonic(), None
        record(f"started {self.name} (pid {self.process.pid})")

    def watch(self, now: float) -> None:
        """Start the service if its pause is over; note an exit and schedule the restart."""
        if self.start_at is not None:
            if now >= self.start_at:
                self.start()
            return
        if self.process is None or self.process.poll() is None:
            return
        # Its own children (gunicorn's workers, a worker's pool) would keep the port, or
        # work on without a parent to report to.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if now - self.started_at >= STABLE_AFTER_S:
            self.pause = FIRST_PAUSE_S
        self.start_at = now + self.pause
        report(f"{self.name} {ended(self.process.returncode)}; starting it again in "
               f"{self.pause:.0f} s. Its log, {shown(self.log)}, ends: {last_line(self.log)}")
        self.pause = min(self.pause * 2, LONGEST_PAUSE_S)

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL whatever is left when its leader has exited, or
        after STOP_WAIT_S."""
        process, self.start_at = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
        with contextlib.suppress(ProcessLookupError):  # a child that outlived its parent
            os.killpg(process.pid, signal.SIGKILL)
        record(f"stopped {self.name} ({ended(process.returncode)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true",
                        help="Django's development server, with auto-reload and DEBUG on")
    dev = parser.parse_args().dev
    os.environ.setdefault("DEBUG", "1" if dev else "0")  # the services inherit it
    address = os.environ.get("FACEWEB_ADDR", "127.0.0.1:8000")
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        sys.exit(f"run: FACEWEB_ADDR must be a host and a port, e.g. 127.0.0.1:8000, got {address!r}")
    if listening(host, int(port)):
        sys.exit(f"run: something already listens at {address} (FACEWEB_ADDR). Stop it, or "
                 "choose another port, e.g. FACEWEB_ADDR=127.0.0.1:8001 make run")
    LOGS.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "faceweb"]
    concurrency = str(env_count("FACEWEB_WORKER_CONCURRENCY", 1))
    web = web_command(address, dev=dev)
    services = []
    if (redis := redis_command()) is not None:
        services.append(Service("redis", redis))
    services.append(Service("web", web))
    # prefork: the parent never loads a model, each child loads the models on its first
    # photo; a child that dies is replaced and its photo re-queued.
    services.append(Service("worker", [*celery, "worker", "--pool", "prefork", "--concurrency",
                                       concurrency, "--loglevel", "INFO"]))
    services.append(Service("beat", [*celery, "beat", "--loglevel", "INFO",
                                     "--schedule", str(RUN_DIR / "celerybeat-schedule")]))

    stopping = False

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for service in services:
        service.start()
        if service.name == "redis":
            wait_for_redis()
    announced = False
    while not stopping:
        time.sleep(0.2)
        for service in services:
            if not stopping:
                service.watch(time.monotonic())
        if not announced and not stopping and answering(host, int(port)):
            print(banner(address, [s.log for s in services], dev=dev), flush=True)
            announced = True
    for service in reversed(services):  # redis last: the others flush to it on the way out
        service.stop()
    print("run: stopped")
    return 0


def record(message: str) -> None:
    """Add a line to the runner's own log."""
    with (LOGS / "run.log").open("a") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")


def report(message: str) -> None:
    """Print a line in the terminal and keep it in the runner's log."""
    print(f"run: {message}", flush=True)
    record(message)


def ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def shown(path: Path) -> str:
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return repr(lines[-1][-200:]) if lines else "(empty)"


def banner(address: str, logs: list[Path], *, dev: bool) -> str:
    """Where the app is, how to sign in, where the logs are, how to stop."""
    user = os.environ.get("FACEWEB_ADMIN_USER", "admin")
    saved = REPO / "var" / "admin-password.txt"
    if os.environ.get("FACEWEB_ADMIN_PASSWORD"):
        password = "the password in FACEWEB_ADMIN_PASSWORD"
    elif saved.exists():
        user, _, first = saved.read_text().strip().partition(" ")
        password = f"password {first}  (as first set; kept in {shown(saved)})"
    else:
        password = "the admin account you made (manage.py changepassword resets it)"
    server = ("Django's development server (auto-reload" if dev else "gunicorn (production")
    debug = "on" if os.environ["DEBUG"].lower() in {"1", "true", "yes", "on"} else "off"
    hosts = ""
    if address.rpartition(":")[0].strip("[]") not in LOCAL_HOSTS and "ALLOWED_HOSTS" not in (
            os.environ):
        hosts = "  set ALLOWED_HOSTS to the host names browsers use to reach it\n"
    return (f"\nfaceweb is running at http://{address}/ on {server}, DEBUG {debug})\n"
            f"  sign in as {user}, {password}\n"
            f"{hosts}"
            f"  logs: {', '.join(shown(log) for log in [*logs, LOGS / 'run.log'])}\n"
            "  A service that stops is started again. Ctrl-C stops everything.\n")


def wait_for_redis() -> None:
    for _ in range(50):
        if listening(*redis_address()):
            return
        time.sleep(0.1)
    print("run: warning: Redis did not start listening within 5 s")


if __name__ == "__main__":
    sys.exit(main())
