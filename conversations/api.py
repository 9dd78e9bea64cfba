"""Customer chat API. Views parse, authorise (by scoping) and call one service/selector."""

import uuid

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.authentication import bearer_token_check, parse_bearer
from chatbot.platform.errors import ApplicationError, error_body
from chatbot.platform.openapi import error_response
from chatbot.platform.throttling import (
    CustomerWriteThrottle,
    WidgetKeyWriteThrottle,
    rate_hits,
)
from chatbot.replies.turn import TurnStarted, turn_start, turn_start_for

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
        response = Response(_send_result(result), status=status.HTTP_202_ACCEPTED)
        if not result.created:
            response["Idempotent-Replayed"] = "true"
        return response


def _send_result(result: TurnStarted) -> dict:
    # SendResultSerializer's shape (the schema), built without DRF on this hot path.
    return {
        "message": message_payload(result.message),
        # No reply while a person owns the conversation (docs/handoff.md).
        "reply": message_payload(result.reply) if result.reply is not None else None,
    }


# The message POST outside DRF (docs/benchmarks.md, "The message POST outside DRF").
#
# The widget's POST (a bearer token, a JSON body) is served by `message_send_view` without
# DRF's dispatch: the same authentication (bearer_token_check), both write throttles in one
# Redis round trip (rate_hits), the same validation and the same service, answering what
# ConversationViewSet.messages answers, byte for byte. Anything else (GET, session cookies,
# no or malformed credentials, another content type or Accept, a body or token the fast
# path would refuse) goes to the viewset unchanged, so every error stays DRF's own. The
# route stays in the router too: the OpenAPI schema documents the viewset's action.

_ALLOW = "GET, POST, HEAD, OPTIONS"  # what DRF answers on this route
_JSON_ACCEPTS = {"application/json", "application/*", "*/*"}


def _json(body: dict, status_code: int) -> HttpResponse:
    # As DRF's JSONRenderer writes it: compact, UTF-8.
    response = HttpResponse(orjson.dumps(body), content_type="application/json", status=status_code)
    response["Allow"] = _ALLOW
    return response


def _plain_json_post(request) -> bool:
    """A POST the viewset would parse as JSON and answer in JSON, with nothing to negotiate."""
    if request.GET or request.content_type != "application/json":
        return False  # `?format=` and the other parsers are DRF's
    if request.content_params.get("charset", "utf-8").lower() != "utf-8":
        return False
    accept = request.headers.get("Accept")
    if not accept:
        return True
    media = [part.strip() for part in accept.split(",")]
    # JSONRenderer honours `indent=` in Accept: leave any parameter to DRF.
    return any(m in _JSON_ACCEPTS for m in media) and not any(";" in m for m in media)


def _message_params(raw: bytes) -> tuple[str, str | None] | None:
    """MessageCreateSerializer's result for a body it accepts as is; None for any other."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    content, client_message_id = data.get("content"), data.get("client_message_id")
    if not isinstance(content, str):
        return None
    content = content.strip()
    if not content or len(content) > settings.CHAT_MAX_MESSAGE_CHARS or "\x00" in content:
        return None
    if client_message_id is not None:
        if not isinstance(client_message_id, str):
            return None
        client_message_id = client_message_id.strip()
        if not client_message_id or len(client_message_id) > 64 or "\x00" in client_message_id:
            return None
    try:  # DRF's CharField refuses surrogates
        content.encode()
        if client_message_id:
            client_message_id.encode()
    except UnicodeEncodeError:
        return None
    return content, client_message_id


def message_send_view(viewset_view):
    """`POST /api/v1/conversations/{pk}/messages/` for bearer clients; `viewset_view` (the
    router's view of ConversationViewSet.messages) for everything else."""

    @csrf_exempt  # as DRF's views: a bearer request carries no cookie to forge
    def view(request, pk):
        if request.method != "POST" or not _plain_json_post(request):
            return viewset_view(request, pk=pk)
        try:
            raw_token = parse_bearer(request.headers.get("Authorization", "").encode())
            conversation_id = uuid.UUID(pk)
        except (exceptions.AuthenticationFailed, ValueError):
            return viewset_view(request, pk=pk)
        params = _message_params(request.body) if raw_token else None
        if params is None:
            return viewset_view(request, pk=pk)
        try:
            token = bearer_token_check(raw_token=raw_token, origin=request.headers.get("Origin"))
        except (exceptions.APIException, ApplicationError):
            return viewset_view(request, pk=pk)  # it refuses the same token the same way
        request.user = token.user
        if refused := _throttled(token):
            return refused
        content, client_message_id = params
        try:
            result = turn_start_for(
                customer_id=token.user_id,
                conversation_id=conversation_id,
                content=content,
                client_message_id=client_message_id,
            )
        except ApplicationError as error:
            response = _json(
                error_body(error.code, error.message, **error.extra), error.status_code
            )
            if "retry_after" in error.extra:
                response["Retry-After"] = str(int(error.extra["retry_after"]))
            return response
        response = _json(_send_result(result), status.HTTP_202_ACCEPTED)
        if not result.created:
            response["Idempotent-Replayed"] = "true"
        return response

    return view


def _throttled(token) -> HttpResponse | None:
    """CustomerWriteThrottle and WidgetKeyWriteThrottle, counted in one Redis round trip."""
    rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    hits = []
    if rate := rates.get(CustomerWriteThrottle.scope):
        hits.append((rate, CustomerWriteThrottle.scope, str(token.user_id)))
    if (rate := rates.get(WidgetKeyWriteThrottle.scope)) and token.widget_key_id is not None:
        hits.append((rate, WidgetKeyWriteThrottle.scope, str(token.widget_key_id)))
    wait = rate_hits(hits=hits) if hits else None
    if wait is None:
        return None
    refused = exceptions.Throttled(wait)
    response = _json(error_body("rate_limited", str(refused.detail)), 429)
    response["Retry-After"] = str(refused.wait)  # DRF: the wait rounded up
    return response
