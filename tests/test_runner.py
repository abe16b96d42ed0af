"""scripts/run.py, as ``make run`` starts it: production by default, and a service that dies
is started again while the others go on.

One real run: its own redis-server, gunicorn, worker and beat, on free ports, with the
database, media, logs and secret key in the test's temporary folder (the repository's var/
is left alone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from recognition.management.processes import free_port, stop_group

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]


def processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # exited meanwhile
        state, parent, group = stat[stat.rindex(")") + 2:].split()[:3]
        if state != "Z":
            found[int(entry.name)] = (int(parent), int(group), command)
    return found


def services_of(runner: int) -> dict[str, int]:
    """The runner's children by service name: redis, web, worker, beat."""
    names = {"redis-server": "redis", "gunicorn": "web", "worker": "worker", "beat": "beat"}
    services = {}
    for pid, (parent, _, command) in processes().items():
        name = next((name for word, name in names.items() if word in command), None)
        if parent == runner and name:  # a child between fork and exec still reads as the runner
            services[name] = pid
    return services


def descendants_of(pid: int) -> set[int]:
    table = processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (parent, _, _) in table.items() if parent in frontier}
        found |= frontier
    return found


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    """``make run``'s environment on free ports and temporary folders, migrated, DEBUG unset."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "FACEWEB_ADMIN_PASSWORD"}}
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        FACEWEB_ADDR=f"127.0.0.1:{free_port()}",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),
        FACEWEB_RUN_DIR=str(tmp_path / "var"),
        FACEWEB_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
        FACEWEB_WEB_WORKERS="1",
    )
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO,
                             env=env, capture_output=True, text=True, check=False)
    assert migrate.returncode == 0, migrate.stderr
    return env


def test_the_runner_serves_in_production_and_restarts_a_crashed_web_server(run_env, tmp_path):
    output = tmp_path / "run.out"
    base = f"http://{run_env['FACEWEB_ADDR']}"
    with output.open("w") as out:
        runner = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=REPO, env=run_env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    groups: set[int] = set()
    try:
        wait_for(lambda: "faceweb is running" in output.read_text(), 60, "the banner")
        assert "gunicorn (production, DEBUG off)" in output.read_text()
        started = services_of(runner.pid)
        assert set(started) == {"redis", "web", "worker", "beat"}
        groups |= set(started.values())

        status, headers, _ = get(f"{base}/accounts/login/")
        assert (status, headers["Server"]) == (200, "gunicorn")
        status, _, body = get(f"{base}/static/css/app.css")
        assert status == 200 and body == (REPO / "static" / "css" / "app.css").read_bytes()
        status, _, body = get(f"{base}/no-such-page/")
        assert status == 404 and b"Page not found at" not in body  # no debug page
        key = Path(run_env["FACEWEB_SECRET_KEY_FILE"])
        assert key.stat().st_mode & 0o777 == 0o600

        os.kill(started["web"], signal.SIGKILL)
        killed = time.monotonic()

        def restarted() -> bool:
            web = services_of(runner.pid).get("web")
            old = [pid for pid, (_, group, _) in processes().items() if group == started["web"]]
            return (web not in (None, started["web"]) and not old
                    and answers(f"{base}/accounts/login/"))

        wait_for(restarted, 15, "a new gunicorn, alone on the port, answering")
        print(f"web server killed: answering again {time.monotonic() - killed:.1f} s later")
        now = services_of(runner.pid)
        groups.add(now["web"])
        assert {name: now[name] for name in ("redis", "worker", "beat")} == {
            name: started[name] for name in ("redis", "worker", "beat")
        }
        assert "run: web was killed by SIGKILL; starting it again in 1 s" in output.read_text()
        assert f"started web (pid {now['web']})" in (tmp_path / "var/log/run.log").read_text()

        everything = descendants_of(runner.pid)
        os.kill(runner.pid, signal.SIGTERM)
        assert runner.wait(timeout=60) == 0
        assert output.read_text().rstrip().endswith("run: stopped")
        assert everything & set(processes()) == set(), "a service outlived the runner"
    finally:
        stop_group(runner, signal.SIGKILL)
        for group in groups:  # whatever a failed run left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
