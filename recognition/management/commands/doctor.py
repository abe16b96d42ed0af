"""``python manage.py doctor [--json] [--timeout S]``: is this deployment ready to work?"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from recognition import health

OK, WARNING, FAIL = "ok", "warning", "fail"

# What to do when a check fails or warns.
FIXES = {
    "models": "Install them: `python manage.py install_models` (or `make setup`).",
    "database": "Check DATABASE_URL (or SQLITE_PATH), that the database is up and migrated, "
                "and its free disk space.",
    "migrations": "Run `python manage.py migrate`.",
    "media": "Make MEDIA_ROOT a folder this user can write, on a disk with free space.",
    "redis": "Start redis-server (or set REDIS_URL to yours); for a queue that survives a "
             "restart, `appendonly yes` in its configuration.",
    "workers": "Start one: `celery -A faceweb worker --pool prefork` (make run does).",
    "sweep": "Run exactly one `celery -A faceweb beat` beside the workers (make run does).",
    "settings": "Set DEBUG=0, ALLOWED_HOSTS, and FACEWEB_HTTPS=1 behind an HTTPS proxy "
                "(README: Running in production).",
    "deploy": "See `python manage.py check --deploy`.",
}


class Command(BaseCommand):
    help = ("Check this deployment: models, database, media, Redis, workers, the sweep and "
            "settings. One line per check (ok, warning or FAIL); exit status 1 if any fails.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="print the report as JSON")
        parser.add_argument("--timeout", type=float, default=2.0,
                            help="seconds each network probe waits (default 2)")

    def handle(self, *args, as_json: bool, timeout: float, **options):
        checks = run_checks(timeout=timeout)
        failed = [check["name"] for check in checks if check["status"] == FAIL]
        if as_json:
            self.stdout.write(json.dumps({"ok": not failed, "checks": checks}, indent=2))
        else:
            for check in checks:
                self.stdout.write(self._line(check))
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}", returncode=1)

    def _line(self, check: dict) -> str:
        style = {OK: self.style.SUCCESS, WARNING: self.style.WARNING, FAIL: self.style.ERROR}
        word = f"{'FAIL' if check['status'] == FAIL else check['status']:<8}"
        line = f"{style[check['status']](word)}{check['name']:<11}{check['reason']}"
        return f"{line.rstrip('.')}. {check['fix']}" if check["fix"] else line


def run_checks(*, timeout: float) -> list[dict]:
    """Every check as ``{"name", "status" (ok / warning / fail), "reason", "fix"}``."""
    models = health.models_check(directory=Path(settings.FACEWEB_MODEL_DIR))
    redis = health.redis_check(timeout=timeout)
    workers = health.workers_check(timeout=timeout, redis_ok=redis["ok"])
    sweep = health.sweep_check()
    deploy = health.deploy_checks()
    if deploy["errors"]:
        deploy["error"] = f"{len(deploy['errors'])} error(s): {', '.join(deploy['errors'])}"
    if deploy["warnings"]:
        deploy["warning"] = (f"{len(deploy['warnings'])} warning(s): "
                             f"{', '.join(deploy['warnings'])}")
    return [
        _check("models", models, ", ".join(models.get("installed", [])) + " installed, "
               "checksums match; detector setting valid"),
        _check("database", health.database_check(timeout=timeout), "reads and writes"),
        _check("migrations", _migrations(), "all applied"),
        _check("media", health.media_check(), f"{settings.MEDIA_ROOT} takes new files"),
        _check("redis", redis, "answers, persistent"),
        _check("workers", workers, f"{len(workers['names'])} answered: "
               + ", ".join(workers["names"])),
        _check("sweep", sweep, f"last ran {sweep.get('age_s') or 0:.0f} s ago"),
        _check("settings", health.settings_check(), "fit for a deployment"),
        _check("deploy", deploy, "`check --deploy` finds no issue"),
    ]


def _check(name: str, probe: dict, detail: str) -> dict:
    """A probe's result as a check: failed with its error (and warning), else warned, else
    ``detail``."""
    if "error" in probe or (not probe["ok"] and "warning" not in probe):
        status = FAIL
        reason = "; ".join(filter(None, (probe.get("error", "failed"), probe.get("warning"))))
    elif "warning" in probe:
        status, reason = WARNING, probe["warning"]
    else:
        status, reason = OK, detail
    return {"name": name, "status": status, "reason": reason,
            "fix": None if status == OK else FIXES[name]}


def _migrations() -> dict:
    """Every migration is applied."""
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return {"ok": False, "error": f"cannot tell: {exc}"}
    if plan:
        return {"ok": False, "error": f"{len(plan)} migration(s) not applied"}
    return {"ok": True}
