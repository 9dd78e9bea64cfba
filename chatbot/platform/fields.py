"""Serializer fields shared by the API's input serializers."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string, and only a string: DRF's CharField turns `0` into "0" and `1.5` into "1.5";
    a client sending a number where text belongs has a bug worth a 400. (Null characters
    are refused by CharField's own validator: PostgreSQL text cannot hold them.)"""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
