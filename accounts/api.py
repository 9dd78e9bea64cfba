from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from chatbot.platform.throttling import WidgetSessionThrottle

from .serializers import WidgetSessionCreateSerializer, WidgetSessionSerializer
from .services import visitor_session_create


class WidgetSessionViewSet(viewsets.ViewSet):
    """Anonymous visitors start here: a widget key buys a bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WidgetSessionThrottle]

    @extend_schema(request=WidgetSessionCreateSerializer, responses={201: WidgetSessionSerializer})
    def create(self, request):
        params = WidgetSessionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        session = visitor_session_create(
            public_key=data["widget_key"],
            origin=request.headers.get("Origin"),
            external_user_id=data.get("user_id") or None,
            user_hash=data.get("user_hash") or None,
        )
        body = {
            "token": session.token,
            "visitor_id": str(session.user.id),
            "customer": {"id": str(session.user.id), "identified": not session.user.is_visitor},
            # The widget counts characters against the server's limit before sending.
            "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
            # The widget offers "Talk to a person" only when someone stands behind it.
            "handoff_enabled": settings.HANDOFF_ENABLED,
        }
        return Response(WidgetSessionSerializer(body).data, status=status.HTTP_201_CREATED)
