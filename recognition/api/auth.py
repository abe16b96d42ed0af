"""API tokens: trade a username and password for your token, or revoke it.

Tokens are also listed, created and deleted in the admin (Auth Token > Tokens).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import services


class TokenApi(APIView):
    """``POST``: your token (created on first use); ``DELETE``: revoke it."""

    throttle_scope = "token"  # slows password guessing

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

        class Meta:
            ref_name = "TokenInput"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(
            source="key", help_text="Send as `Authorization: Token <token>`."
        )

        class Meta:
            ref_name = "Token"

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(operation_id="token_get", request=InputSerializer, responses=OutputSerializer)
    def post(self, request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, **data.validated_data)
        if user is None:
            raise exceptions.AuthenticationFailed("Wrong username or password.")
        return Response(self.OutputSerializer(services.token_issue(user=user)).data)

    @extend_schema(operation_id="token_revoke", request=None, responses={204: None})
    def delete(self, request) -> Response:
        services.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
