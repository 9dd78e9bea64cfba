from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chatbot.platform.fields import StrictCharField

from .models import Conversation, Message


class ConversationSerializer(serializers.ModelSerializer):
    title = StrictCharField(required=False, allow_blank=True, max_length=200)

    class Meta:
        model = Conversation
        fields = ["id", "title", "status", "created_at", "updated_at", "last_message_at"]
        read_only_fields = ["id", "status", "created_at", "updated_at", "last_message_at"]


class CitationSerializer(serializers.Serializer):
    """A knowledge-base source a reply cited as [number] (chatbot.knowledge.Citation)."""

    number = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(allow_blank=True)  # empty: the article has no public page


class MessageSerializer(serializers.ModelSerializer):
    citations = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "role",
            "content",
            "status",
            "reply_to",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "latency_ms",
            "error_code",
            "route_reason",
            "client_message_id",
            "created_at",
            "completed_at",
            # Cost control (docs/cost-control.md).
            "token_count",
            "cached",
            "merged_into",
            # Knowledge base (docs/knowledge-base.md): the sources a completed reply cited.
            "citations",
        ]
        read_only_fields = fields

    @extend_schema_field(CitationSerializer(many=True))
    def get_citations(self, message: Message) -> list[dict]:
        # Only a completed reply can have cited anything: no query for the others.
        if message.role != Message.Role.ASSISTANT or message.status != Message.Status.COMPLETED:
            return []
        return [
            {"number": c.number, "title": c.title, "url": c.url}
            for c in message.citations.all()  # prefetched by the message list
        ]


class MessagePageSerializer(serializers.Serializer):
    """`GET .../messages/`: a page of messages, oldest first (cursor: `after`)."""

    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More messages follow the last one here.")


class MessageCreateSerializer(serializers.Serializer):
    content = StrictCharField(trim_whitespace=True)
    client_message_id = StrictCharField(
        required=False, allow_null=True, max_length=64, trim_whitespace=True
    )

    def validate_content(self, value: str) -> str:
        limit = settings.CHAT_MAX_MESSAGE_CHARS
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} characters.", code="max_length"
            )
        if "\x00" in value:
            raise serializers.ValidationError("Null characters are not allowed.")
        return value


class SendResultSerializer(serializers.Serializer):
    message = MessageSerializer()
    reply = MessageSerializer()


class MessageListQuerySerializer(serializers.Serializer):
    after = serializers.UUIDField(required=False, help_text="Only messages after this id.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=500, default=100, help_text="At most this many."
    )

    def to_internal_value(self, data):
        # A query string's `after=` would otherwise count as absent: the first page.
        for name in self.fields:
            if data.get(name) == "":
                raise serializers.ValidationError({name: ["This field may not be blank."]})
        return super().to_internal_value(data)
