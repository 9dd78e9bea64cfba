"""Customer chat API. Views parse, authorise (by scoping) and call one service/selector."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from chatbot.platform.openapi import error_response
from chatbot.platform.throttling import CustomerWriteThrottle, WidgetKeyWriteThrottle
from chatbot.replies.turn import turn_start

from . import selectors, services
from .models import Conversation
from .payloads import message_payload
from .serializers import (
    ConversationSerializer,
    MessageCreateSerializer,
    MessageListQuerySerializer,
    MessagePageSerializer,
    MessageSerializer,
    SendResultSerializer,
)


class ConversationViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ConversationSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    # Writes only, per customer and per widget key (docs/cost-control.md).
    throttle_classes = [CustomerWriteThrottle, WidgetKeyWriteThrottle]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no request user
            return Conversation.objects.none()
        # Every verb goes through this: another customer's conversation is simply a 404.
        return selectors.conversation_list(customer=self.request.user)

    def perform_create(self, serializer):
        # Bearer-authenticated widget visitors: remember which embedding they came from.
        widget_key = getattr(self.request.auth, "widget_key_id", None)
        serializer.instance = services.conversation_create(
            customer=self.request.user,
            widget_key_id=widget_key,
            title=serializer.validated_data.get("title", ""),
        )

    def perform_update(self, serializer):
        serializer.instance = services.conversation_rename(
            conversation=serializer.instance, title=serializer.validated_data.get("title", "")
        )

    @extend_schema(request=None, responses={200: ConversationSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        conversation = services.conversation_close(conversation=self.get_object())
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        methods=["GET"],
        parameters=[MessageListQuerySerializer],
        responses={200: MessagePageSerializer},
    )
    @extend_schema(
        methods=["POST"],
        request=MessageCreateSerializer,
        responses={
            202: SendResultSerializer,
            409: error_response("The conversation is closed (`conversation_closed`)."),
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="messages")
    def messages(self, request, pk=None):
        conversation: Conversation = self.get_object()
        if request.method == "POST":
            return self._send(request, conversation)
        query = MessageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after = None
        if after_id := query.validated_data.get("after"):
            after = selectors.message_get(conversation=conversation, message_id=after_id)
            if after is None:
                raise ValidationError({"after": ["No such message in this conversation."]})
        limit = query.validated_data["limit"]
        messages = selectors.message_list(conversation=conversation, after=after, limit=limit + 1)
        return Response(
            {
                "results": MessageSerializer(messages[:limit], many=True).data,
                "has_more": len(messages) > limit,
            }
        )

    def _send(self, request, conversation: Conversation) -> Response:
        params = MessageCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = turn_start(
            conversation=conversation,
            content=params.validated_data["content"],
            client_message_id=params.validated_data.get("client_message_id"),
        )
        # SendResultSerializer's shape (the schema), built without DRF on this hot path.
        body = {"message": message_payload(result.message), "reply": message_payload(result.reply)}
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        if not result.created:
            response["Idempotent-Replayed"] = "true"
        return response
