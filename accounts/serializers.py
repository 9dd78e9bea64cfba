from rest_framework import serializers


class WidgetSessionCreateSerializer(serializers.Serializer):
    widget_key = serializers.CharField(max_length=64)


class WidgetSessionSerializer(serializers.Serializer):
    token = serializers.CharField()
    visitor_id = serializers.UUIDField()
    customer = serializers.DictField()
