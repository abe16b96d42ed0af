"""The dashboard: counts, recognitions per day, expression mix, queue health."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from recognition import health, selectors

# The worker ping waits this long for answers: a page load pays it once.
HEALTH_TIMEOUT_S = 0.5


@login_required
def dashboard(request):
    stats = selectors.dashboard_stats(user=request.user, age_gender=settings.FACEWEB_AGE_GENDER)
    charts = {
        "days": [day.isoformat() for day, _, _ in stats.per_day],
        "recognised": [recognised for _, recognised, _ in stats.per_day],
        "unknown": [unknown for _, _, unknown in stats.per_day],
        "expressions": stats.expressions,
        "byPerson": [{"name": name, "counts": counts}
                     for name, counts in stats.expressions_by_person],
        "ages": stats.ages,
        "genders": stats.genders,
    }
    return render(request, "recognition/dashboard.html", {
        "stats": stats, "charts": charts, "health": _shown_health(request.user),
    })


@login_required
def dashboard_health(request):
    """Queue health for the dashboard to poll."""
    return JsonResponse(_shown_health(request.user))


def _shown_health(user) -> dict:
    """What the dashboard shows of ``health.system_health``: the workers (how many), Redis, the
    queue, and whether new photos can be saved; only staff see why not (paths, errors)."""
    report = health.system_health(timeout=HEALTH_TIMEOUT_S)
    broken = [f"{part}: {report[part].get('error', 'failing')}" for part in ("database", "media")
              if not report[part]["ok"]]
    storage = {"ok": not broken}
    if broken and user.is_staff:
        storage["error"] = "; ".join(broken)
    return {
        "workers": {"ok": report["workers"]["ok"],
                    "count": len(report["workers"].get("names", []))},
        "redis": {"ok": report["redis"]["ok"]},
        "storage": storage,
        "queue": report["queue"],
    }
