"""`POST /api/v1/conversations/{id}/tool-calls/{call_id}/confirm/` and `.../cancel/`: the
customer's answer to "Cancel order 1234?". Confirming starts the turn that runs the call."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot.replies.turn import turn_start
from conversations.models import Conversation

from .errors import ToolCallNotFound
from .runner import CONFIRM_PREFIX
from .services import tool_call_attach_run, tool_call_decide


class ToolCallDecisionSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    tool = serializers.CharField(source="tool_name")
    label = serializers.CharField()
    status = serializers.CharField()


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
