from rest_framework import serializers

from chatbot.platform.fields import StrictCharField


class WidgetSessionCreateSerializer(serializers.Serializer):
    widget_key = StrictCharField(max_length=64)
    user_id = StrictCharField(max_length=255, required=False, allow_blank=True)
    user_hash = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Must be 64 hex characters."},
    )


class WidgetSessionSerializer(serializers.Serializer):
    token = serializers.CharField()
    visitor_id = serializers.UUIDField()
    customer = serializers.DictField()
    max_message_chars = serializers.IntegerField(help_text="Longest message content accepted.")
    handoff_enabled = serializers.BooleanField(
        help_text='Whether the widget offers "Talk to a person" (docs/handoff.md).'
    )
