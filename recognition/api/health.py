"""Health, for monitoring: database, media, Redis, workers, the sweep and queue depth."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import health

PROBE_TIMEOUT_S = 1.0


def _is_staff(request) -> bool:
    """Staff (by session or token) see the details; a missing or broken credential only hides
    them, never the answer."""
    user = getattr(request._request, "user", None)  # the session's, from Django's middleware
    if user is not None and user.is_authenticated:
        return user.is_staff
    try:
        found = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return False
    return bool(found and found[0].is_staff)


class HealthApi(APIView):
    # Open to monitors without credentials; worker names, errors and queue counts are staff's.
    authentication_classes = ()
    permission_classes = (AllowAny,)

    class OutputSerializer(serializers.Serializer):
        class CheckSerializer(serializers.Serializer):
            ok = serializers.BooleanField()
            error = serializers.CharField(required=False, help_text="Staff only: what failed.")

            class Meta:
                ref_name = "HealthCheck"

        class RedisSerializer(CheckSerializer):
            persistent = serializers.BooleanField(
                required=False,
                help_text="Staff only. Whether Redis keeps the queue across a restart (an "
                "append-only file or snapshots); absent when it will not say.",
            )
            warning = serializers.CharField(required=False, help_text="Staff only.")

            class Meta:
                ref_name = "HealthRedis"

        class WorkersSerializer(CheckSerializer):
            names = serializers.ListField(child=serializers.CharField(), required=False)

            class Meta:
                ref_name = "HealthWorkers"

        class SweepSerializer(serializers.Serializer):
            ok = serializers.BooleanField(help_text="The sweep ran lately (not part of ok).")
            age_s = serializers.FloatField(
                required=False, help_text="Staff only. Seconds since it last ran (absent if "
                "it never has).",
            )
            warning = serializers.CharField(required=False, help_text="Staff only.")

            class Meta:
                ref_name = "HealthSweep"

        class QueueSerializer(serializers.Serializer):
            waiting = serializers.IntegerField(
                allow_null=True, help_text="Jobs in Redis not yet taken by a worker."
            )
            reserved = serializers.IntegerField(
                allow_null=True, help_text="Jobs taken by a worker and not finished."
            )
            pending = serializers.IntegerField(required=False)
            processing = serializers.IntegerField(required=False)
            done = serializers.IntegerField(required=False)
            failed = serializers.IntegerField(required=False)

            class Meta:
                ref_name = "HealthQueue"

        ok = serializers.BooleanField(help_text="The database, media, Redis and workers work.")
        database = CheckSerializer(help_text="Answers a read and commits a write.")
        media = CheckSerializer(help_text="MEDIA_ROOT takes a new file.")
        redis = RedisSerializer()
        workers = WorkersSerializer()
        sweep = SweepSerializer()
        queue = QueueSerializer(
            required=False, help_text="Staff only. Photo counts by status come from the database."
        )

        class Meta:
            ref_name = "Health"

    @extend_schema(
        operation_id="health",
        responses={
            200: OutputSerializer,
            503: OpenApiResponse(OutputSerializer, description="Something is down (see ok)."),
        },
    )
    def get(self, request) -> Response:
        """200 when the database and media take writes and Redis and at least one worker
        answer; 503 otherwise. A stale sweep or a Redis without persistence only warns. Staff
        also get errors, warnings, worker names and queue counts; others only the flags."""
        report = health.system_health(timeout=PROBE_TIMEOUT_S)
        code = status.HTTP_200_OK if report["ok"] else status.HTTP_503_SERVICE_UNAVAILABLE
        if not _is_staff(request):
            report = {"ok": report["ok"]} | {
                part: {"ok": report[part]["ok"]} for part in (*health.VITAL, "sweep")
            }
        return Response(self.OutputSerializer(report).data, status=code)

