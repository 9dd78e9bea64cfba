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
    FeedbackCreateSerializer,
    FeedbackSerializer,
    FollowupEmailSerializer,
    HandoffResultSerializer,
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

    @extend_schema(
        request=None,
        responses={
            200: ConversationSerializer,
            409: error_response("A person handles it (`handoff_in_progress`): staff close it."),
        },
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        conversation = services.conversation_close(
            conversation=self.get_object(), actor=request.user, reason="customer"
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        request=None,
        responses={
            200: HandoffResultSerializer,
            409: error_response(
                "Closed (`conversation_closed`) or no handoff here (`handoff_unavailable`)."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def handoff(self, request, pk=None):
        """The customer asks for a person ("Talk to a person", docs/handoff.md)."""
        result = services.conversation_handoff_request(
            conversation=self.get_object(),
            reason="customer_request",
            requested_by=request.user,
            source="widget",
        )
        return Response(
            HandoffResultSerializer(
                {
                    "handling": result.handling,
                    "changed": result.changed,
                    "estimated_wait_seconds": result.estimated_wait_seconds,
                }
            ).data
        )

    @extend_schema(
        request=FollowupEmailSerializer,
        responses={
            200: ConversationSerializer,
            409: error_response("Not waiting for a person (`handoff_invalid_transition`)."),
        },
    )
    @action(detail=True, methods=["post"], url_path="followup-email")
    def followup_email(self, request, pk=None):
        """Where to send a person's answer when nobody could pick up in time."""
        params = FollowupEmailSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        conversation = services.conversation_followup_email_set(
            conversation=self.get_object(), email=params.validated_data["email"]
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        request=FeedbackCreateSerializer,
        responses={
            201: FeedbackSerializer,
            400: error_response(
                "Not a bot answer here, or CSAT before close (`feedback_invalid`)."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        """Thumbs up/down: a bot answer's helpfulness, or the closed conversation (CSAT)."""
        conversation: Conversation = self.get_object()
        params = FeedbackCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        message = None
        if message_id := params.validated_data.get("message"):
            message = selectors.message_get(conversation=conversation, message_id=message_id)
            if message is None:
                raise ValidationError({"message": ["No such message in this conversation."]})
        feedback = services.feedback_record(
            conversation=conversation,
            kind=params.validated_data["kind"],
            vote=params.validated_data["vote"],
            message=message,
            comment=params.validated_data.get("comment", ""),
        )
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)

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
        body = {
            "message": message_payload(result.message),
            # No reply while a person owns the conversation (docs/handoff.md).
            "reply": message_payload(result.reply) if result.reply is not None else None,
        }
        response = Response(body, status=status.HTTP_202_ACCEPTED)
        if not result.created:
            response["Idempotent-Replayed"] = "true"
        return response
