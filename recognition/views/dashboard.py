"""The dashboard: counts, recognitions per day, expression mix, queue health."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from recognition import selectors

# The worker ping waits this long for answers: a page load pays it once.
HEALTH_TIMEOUT_S = 0.5


@login_required
def dashboard(request):
    stats = selectors.dashboard_stats(user=request.user)
    charts = {
        "days": [day.isoformat() for day, _, _ in stats.per_day],
        "recognised": [recognised for _, recognised, _ in stats.per_day],
        "unknown": [unknown for _, _, unknown in stats.per_day],
        "expressions": stats.expressions,
        "byPerson": [{"name": name, "counts": counts}
                     for name, counts in stats.expressions_by_person],
    }
    return render(request, "recognition/dashboard.html", {
        "stats": stats, "charts": charts, "health": selectors.system_health(timeout=HEALTH_TIMEOUT_S),
    })


@login_required
def dashboard_health(request):
    """Queue health for the dashboard to poll."""
    return JsonResponse(selectors.system_health(timeout=HEALTH_TIMEOUT_S))
