"""`POST /api/v1/conversations/{id}/tool-calls/{call_id}/confirm/` and `.../cancel/`: the
customer's answer to "Cancel order 1234?". Confirming starts the turn that runs the call.
`GET .../tool-calls/?status=awaiting_confirmation`: the questions still open, so a reloaded
widget shows Confirm / Cancel again."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot.replies.turn import turn_start
from conversations.models import Conversation
from conversations.selectors import conversation_list

from .errors import ToolCallNotFound
from .models import ToolCall
from .runner import CONFIRM_PREFIX
from .selectors import tool_call_awaiting_list
from .services import tool_call_attach_run, tool_call_decide


class ToolCallDecisionSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    tool = serializers.CharField(source="tool_name")
    label = serializers.CharField()
    status = serializers.CharField()


class ToolCallAwaitingSerializer(ToolCallDecisionSerializer):
    reply_id = serializers.UUIDField(help_text="The reply that asked (a message id).")


class ToolCallPageSerializer(serializers.Serializer):
    results = ToolCallAwaitingSerializer(many=True)


class ToolCallListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[ToolCall.Status.AWAITING_CONFIRMATION],
        default=ToolCall.Status.AWAITING_CONFIRMATION,
        help_text="Only the calls that wait for the customer's answer can be listed.",
    )

    def to_internal_value(self, data):
        # A query string's `status=` would otherwise count as absent (the default).
        if data.get("status") == "":
            raise serializers.ValidationError({"status": ["This field may not be blank."]})
        return super().to_internal_value(data)


class ToolCallListView(APIView):
    """The side effects that wait for the customer's Confirm / Cancel, oldest first (at
    most 50), each with the reply that asked; decided ones are never listed."""

    @extend_schema(
        operation_id="conversations_tool_calls_list",
        parameters=[ToolCallListQuerySerializer],
        responses={200: ToolCallPageSerializer},
    )
    def get(self, request, conversation_id):
        # Another customer's conversation is a 404, as on every verb of the API.
        conversation = get_object_or_404(
            conversation_list(customer=request.user), pk=conversation_id
        )
        ToolCallListQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        rows = tool_call_awaiting_list(conversation=conversation)
        return Response({"results": ToolCallAwaitingSerializer(rows, many=True).data})


class _Decision(APIView):
    confirm = True

    @extend_schema(request=None, responses={200: ToolCallDecisionSerializer})
    def post(self, request, conversation_id, call_id):
        conversation = Conversation.objects.filter(
            pk=conversation_id, customer=request.user
        ).first()
        if conversation is None:
            raise ToolCallNotFound("No such action awaits your confirmation.")
        with transaction.atomic():
            row = tool_call_decide(
                tool_call_id=call_id, customer=request.user, confirm=self.confirm
            )
            if row.conversation_id != conversation.pk:
                raise ToolCallNotFound("No such action awaits your confirmation.")
            body = ToolCallDecisionSerializer(row).data
            if self.confirm:
                started = turn_start(
                    conversation=conversation,
                    content=f"Confirmed: {row.label}",
                    client_message_id=f"{CONFIRM_PREFIX}{row.pk}",
                )
                tool_call_attach_run(tool_call=row, reply_id=started.reply.pk)
                body["reply_id"] = str(started.reply.pk)
        return Response(body)


class ToolCallConfirmView(_Decision):
    confirm = True


class ToolCallCancelView(_Decision):
    confirm = False
