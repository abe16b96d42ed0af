"""The audit log (staff): who viewed, exported, assigned, merged or deleted biometric data."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import selectors
from recognition.api.common import QuerySerializer, paginate, paginated
from recognition.models import AuditEvent


class AuditEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_name", help_text="User name, or system.")
    action = serializers.ChoiceField(choices=AuditEvent.Action.values)
    target = serializers.CharField(help_text='The record, e.g. "photo 12".')
    detail = serializers.CharField()

    class Meta:
        ref_name = "AuditEvent"


class AuditApi(APIView):
    permission_classes = (IsAdminUser,)

    class FilterSerializer(QuerySerializer):
        action = serializers.ChoiceField(choices=AuditEvent.Action.values, required=False)
        actor = serializers.CharField(required=False, max_length=150)
        date_from = serializers.DateField(required=False)
        date_to = serializers.DateField(required=False)
        page = serializers.IntegerField(required=False, min_value=1)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    @extend_schema(operation_id="audit_list", parameters=[FilterSerializer],
                   responses=paginated(AuditEventSerializer, "AuditPage"))
    def get(self, request) -> Response:
        """Staff: the audit log, newest first, filtered by action, actor and day range."""
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        query = {k: v for k, v in filters.validated_data.items() if k not in ("page", "page_size")}
        return paginate(request, self, selectors.audit_events(**query), AuditEventSerializer)
