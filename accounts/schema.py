"""OpenAPI description of our bearer tokens (drf-spectacular extension, registered on import
from AccountsConfig.ready)."""

from drf_spectacular.authentication import SessionScheme as DrfSessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A widget session token or an API token (cdt_…).",
        }


class SessionScheme(DrfSessionScheme):
    """Our SessionAuthentication (a JSON csrf_failed) is DRF's session cookie to clients."""

    target_class = "accounts.authentication.SessionAuthentication"
