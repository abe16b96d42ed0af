"""The audit log (staff): who viewed, exported, assigned, merged or deleted biometric data."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from recognition import selectors
from recognition.forms import AuditFilterForm
from recognition.views.access import staff_required


@staff_required
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    events = selectors.audit_events(**(form.cleaned_data if form.is_valid() else {}))
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "recognition/audit.html",
                  {"form": form, "page": page, "query": query.urlencode()})
