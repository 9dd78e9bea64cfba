from django.conf import settings
from rest_framework import serializers

from chatbot.platform.fields import StrictCharField

from .models import Conversation, Feedback, Message
from .selectors import agent_name


class ConversationSerializer(serializers.ModelSerializer):
    title = StrictCharField(required=False, allow_blank=True, max_length=200)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "status",
            "handling",
            "created_at",
            "updated_at",
            "last_message_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "handling",
            "created_at",
            "updated_at",
            "last_message_at",
        ]


class MessageSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField(
        help_text="A staff message's author as customers see them (a person, not the bot)."
    )

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
            # Human handoff (docs/handoff.md).
            "author_name",
            "handoff_offered",
        ]
        read_only_fields = fields

    def get_author_name(self, message: Message) -> str:
        if message.role != Message.Role.STAFF:
            return ""
        return agent_name(message.author)


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
    # Null while a person handles the conversation: no bot reply is generated.
    reply = MessageSerializer(allow_null=True)


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


class HandoffResultSerializer(serializers.Serializer):
    """`POST .../handoff/`: where the conversation stands now."""

    handling = serializers.ChoiceField(choices=Conversation.Handling.choices)
    changed = serializers.BooleanField(help_text="False: it already waited for a person.")
    estimated_wait_seconds = serializers.IntegerField(
        allow_null=True, help_text="Typical pickup time lately; null when not known."
    )


class FollowupEmailSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class FeedbackCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Feedback.Kind.choices)
    vote = serializers.ChoiceField(choices=Feedback.Vote.choices)
    message = serializers.UUIDField(
        required=False, allow_null=True, help_text="The rated reply (helpfulness only)."
    )
    comment = StrictCharField(required=False, allow_blank=True, max_length=2000)


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feedback
        fields = ["id", "conversation", "message", "kind", "vote", "comment", "created_at"]
        read_only_fields = fields
