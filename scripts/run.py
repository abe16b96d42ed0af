"""Run faceweb on one machine: Redis (unless one is already listening at REDIS_URL), the web
server, a Celery worker and Celery beat, each logging to var/log/<name>.log; prints where the
app is and how to sign in. Ctrl-C stops them all; so does any of them exiting.

Used by ``make run``; run from the repository root with the virtualenv's Python.
Environment: REDIS_URL, FACEWEB_ADDR (web server address, default 127.0.0.1:8000),
FACEWEB_WORKER_CONCURRENCY (worker processes, default 1: TensorFlow already uses every core).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOGS = REPO / "var" / "log"


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def redis_address() -> tuple[str, int]:
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return url.hostname or "127.0.0.1", url.port or 6379


def redis_command() -> list[str] | None:
    """The command that starts a local Redis, None if one is already reachable; exits with
    a message saying what to do when neither is possible."""
    host, port = redis_address()
    if listening(host, port):
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
    directory = REPO / "var" / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    return [server, "--port", str(port), "--bind", host, "--dir", str(directory)]


def main() -> int:
    python = sys.executable
    address = os.environ.get("FACEWEB_ADDR", "127.0.0.1:8000")
    celery = [python, "-m", "celery", "-A", "faceweb"]
    concurrency = os.environ.get("FACEWEB_WORKER_CONCURRENCY", "1")
    commands: dict[str, list[str]] = {}
    if (redis := redis_command()) is not None:
        commands["redis"] = redis
    commands["web"] = [python, "manage.py", "runserver", address]
    # prefork: the parent never imports TensorFlow, each child loads the models on its first
    # photo; a child that dies is replaced and its photo re-queued.
    commands["worker"] = [*celery, "worker", "--pool", "prefork", "--concurrency", concurrency,
                          "--loglevel", "INFO"]
    commands["beat"] = [*celery, "beat", "--loglevel", "INFO"]

    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    LOGS.mkdir(parents=True, exist_ok=True)
    for name, command in commands.items():
        # Own process group each: the terminal's Ctrl-C reaches only this script, which
        # then stops the services in order, children (the runserver reloader) included.
        # Their output goes to var/log/, so the terminal keeps only the banner.
        with log_path(name).open("a") as log:
            processes[name] = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                                               stdout=log, stderr=subprocess.STDOUT)
        if name == "redis":
            wait_for_redis()
    host, _, port = address.rpartition(":")
    while (not stopping and processes["web"].poll() is None
           and not listening(host.strip("[]"), int(port))):
        time.sleep(0.2)
    if not stopping and processes["web"].poll() is None:
        print(banner(address, list(processes)), flush=True)

    exited = None
    while not stopping and exited is None:
        time.sleep(0.5)
        exited = next((n for n, p in processes.items() if p.poll() is not None), None)
    if exited:
        print(f"run: {exited} exited with status {processes[exited].returncode}; stopping. "
              f"The last lines of {log_path(exited).relative_to(REPO)}:\n{tail(log_path(exited))}")
    for name in reversed(list(processes)):  # redis last: the others flush to it on the way out
        terminate(processes[name])
    print("run: stopped")
    return 1 if exited else 0


def log_path(name: str) -> Path:
    return LOGS / f"{name}.log"


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def banner(address: str, services: list[str]) -> str:
    """Where the app is, how to sign in, where the logs are, how to stop."""
    user = os.environ.get("FACEWEB_ADMIN_USER", "admin")
    saved = REPO / "var" / "admin-password.txt"
    if os.environ.get("FACEWEB_ADMIN_PASSWORD"):
        password = "the password in FACEWEB_ADMIN_PASSWORD"
    elif saved.exists():
        user, _, first = saved.read_text().strip().partition(" ")
        password = f"password {first}  (as first set; kept in {saved.relative_to(REPO)})"
    else:
        password = "the admin account you made (manage.py changepassword resets it)"
    logs = ", ".join(str(log_path(name).relative_to(REPO)) for name in services)
    return (f"\nfaceweb is running at http://{address}/\n"
            f"  sign in as {user}, {password}\n"
            f"  logs: {logs}\n"
            "  Ctrl-C stops everything.\n")


def wait_for_redis() -> None:
    for _ in range(50):
        if listening(*redis_address()):
            return
        time.sleep(0.1)
    print("run: warning: Redis did not start listening within 5 s")


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after 10 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    sys.exit(main())
