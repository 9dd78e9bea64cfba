"""The OpenAPI schema speaks the API's real error shape (drf-spectacular).

`ApiAutoSchema` (SPECTACULAR_SETTINGS' DEFAULT_SCHEMA_CLASS... set as REST_FRAMEWORK's
DEFAULT_SCHEMA_CLASS) adds the error responses every endpoint can give, all with the one
`Error` component (chatbot.platform.errors): 400 where there is input, 401 where
authentication is required, 403, 404 on paths with an id, 413/415 where there is a body,
429 where a throttle applies. An operation adds its own (409 `conversation_closed`) with
`extend_schema(responses=...)`; those win.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. `validation_error`.")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: field name -> messages.",
    )
    retry_after = serializers.IntegerField(required=False)


class ErrorSerializer(serializers.Serializer):
    """`{"error": {"code", "message", "fields"?}}`: every error of /api/."""

    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


# What CharField accepts, as patterns: no null character (PostgreSQL text cannot hold it),
# and, unless blank is allowed, something left after trimming whitespace.
_NO_NUL = r"^[^\x00]*$"
_NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class ApiAutoSchema(AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            isinstance(field, serializers.CharField)
            and not isinstance(field, serializers.RegexField)
            and not field.read_only
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "format" not in schema
        ):
            blank_ok = field.allow_blank or not field.trim_whitespace
            schema["pattern"] = _NO_NUL if blank_ok else _NOT_BLANK
            if not field.allow_blank:
                schema.setdefault("minLength", 1)
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular offers "" as a oneOf alternative to a pattern; ours matches "" itself,
        # and a oneOf whose branches both match is a schema violation for "".
        alternatives = schema.get("oneOf")
        if alternatives and alternatives[0].get("pattern") == _NO_NUL:
            schema.update(schema.pop("oneOf")[0])

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        method = self.method.upper()
        has_body = method in ("POST", "PUT", "PATCH")
        errors = {"400": "Invalid input (`validation_error`, `malformed_json`, `bad_request`)."}
        if self.view.get_authenticators() and self.get_auth():
            errors["401"] = "Missing or bad credentials."
        errors["403"] = "Not allowed (`permission_denied`, `origin_not_allowed`, `csrf_failed`)."
        if "{" in self.path or has_body:
            errors["404"] = "No such record for you (`not_found`)."
        if has_body:
            errors["413"] = "Body over API_MAX_BODY_BYTES (`payload_too_large`)."
            errors["415"] = "Not application/json (`unsupported_media_type`)."
        if self.view.get_throttles():
            errors["429"] = "Rate or cost limit (`rate_limited`, ...), with Retry-After."
        for status_code, description in errors.items():
            if status_code not in responses:
                responses[status_code] = self._get_response_for_code(
                    error_response(description), status_code
                )
        return responses
