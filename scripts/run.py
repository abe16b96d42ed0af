"""Run faceweb on one machine: Redis (unless one is already listening at REDIS_URL), the web
server, a Celery worker and Celery beat. Ctrl-C stops them all; so does any of them exiting.

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
        print(f"run: using the Redis already listening on {host}:{port}")
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
    for name, command in commands.items():
        # Own process group each: the terminal's Ctrl-C reaches only this script, which
        # then stops the services in order, children (the runserver reloader) included.
        processes[name] = subprocess.Popen(command, cwd=REPO, start_new_session=True)
        print(f"run: started {name} (pid {processes[name].pid})")
        if name == "redis":
            wait_for_redis()
    print(f"run: faceweb is up at http://{address}/ (admin: /admin/). Ctrl-C stops everything.")

    exited = None
    while not stopping and exited is None:
        time.sleep(0.5)
        exited = next((n for n, p in processes.items() if p.poll() is not None), None)
    if exited:
        print(f"run: {exited} exited with status {processes[exited].returncode}; stopping")
    for name in reversed(list(processes)):  # redis last: the others flush to it on the way out
        terminate(name, processes[name])
    return 1 if exited else 0


def wait_for_redis() -> None:
    for _ in range(50):
        if listening(*redis_address()):
            return
        time.sleep(0.1)
    print("run: warning: Redis did not start listening within 5 s")


def terminate(name: str, process: subprocess.Popen) -> None:
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
    print(f"run: stopped {name}")


if __name__ == "__main__":
    sys.exit(main())
