"""List pagination: `?limit=&offset=`, where a bad value is a 400, not silently ignored.

DRF's LimitOffsetPagination falls back to the defaults on `limit=abc` or `offset=-1`; a
client with a bug then reads the wrong page without knowing it. Here either is a
`validation_error` naming the parameter, and the schema states the bounds.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class StrictLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500

    def _parameter(self, request, name: str, default: int, minimum: int, maximum: int | None):
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValidationError({name: ["A valid integer is required."]}) from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValidationError({name: [f"Must be {bound}."]})
        return value

    def get_limit(self, request):
        return self._parameter(
            request, self.limit_query_param, self.default_limit, 1, self.max_limit
        )

    def get_offset(self, request):
        return self._parameter(request, self.offset_query_param, 0, 0, None)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0)
        return parameters
