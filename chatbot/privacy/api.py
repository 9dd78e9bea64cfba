"""GDPR self-service for the caller: `GET /api/v1/me/export/`, `POST /api/v1/me/erase/`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ErasureRecord
from chatbot.platform.throttling import PrivacyThrottle

from .selectors import user_data_export
from .services import user_erase


class EraseRequestSerializer(serializers.Serializer):
    confirm = serializers.ChoiceField(
        choices=["erase"], help_text='Must be "erase": erasure cannot be undone.'
    )


class ErasureSerializer(serializers.Serializer):
    erasure_id = serializers.UUIDField(source="pk")
    erased_at = serializers.DateTimeField(source="created_at")
    counts = serializers.DictField()


class MeExportView(APIView):
    throttle_classes = [PrivacyThrottle]

    @extend_schema(responses={200: dict}, summary="Everything held about the caller (JSON)")
    def get(self, request):
        response = Response(user_data_export(user=request.user))
        # Personal data: never kept by shared caches or the browser's disk cache.
        response["Cache-Control"] = "no-store"
        response["Content-Disposition"] = 'attachment; filename="chatdesk-export.json"'
        return response


class MeEraseView(APIView):
    throttle_classes = [PrivacyThrottle]

    @extend_schema(
        request=EraseRequestSerializer,
        responses={200: ErasureSerializer},
        summary="Erase everything held about the caller (irreversible)",
    )
    def post(self, request):
        EraseRequestSerializer(data=request.data).is_valid(raise_exception=True)
        record = user_erase(user=request.user, route=ErasureRecord.Route.SELF_SERVICE)
        return Response(ErasureSerializer(record).data, status=status.HTTP_200_OK)
