"""Your API token: see it, create it, revoke it (the REST API's per-user credential)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from rest_framework.authtoken.models import Token

from recognition import services


@never_cache  # the page shows a credential: no cache may keep it
@login_required
def api_token(request):
    """GET shows the token (if any); POST ``action=create`` makes one, ``action=revoke`` deletes
    it, so that scripts using it are refused from then on."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            services.token_issue(user=request.user)
            messages.success(request, "Your API token is ready; send it as "
                             "“Authorization: Token <token>”.")
        elif action == "revoke":
            services.token_revoke(user=request.user)
            messages.success(request, "Your API token was revoked; requests with it are refused.")
        return redirect("recognition:api_token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "recognition/api_token.html", {"token": token})
