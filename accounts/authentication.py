from rest_framework import authentication, exceptions

from chatbot.platform.errors import CsrfFailed

from .errors import OriginNotAllowed
from .models import ApiToken
from .selectors import api_token_lookup
from .services import api_token_touch


def bearer_token_check(*, raw_token: str, origin: str | None) -> ApiToken:
    """The live token for a bearer string, or the API error to answer with.

    Shared by the DRF views and the async SSE view so both enforce the same rules."""
    token = api_token_lookup(raw_token=raw_token)
    if token is None:
        raise exceptions.AuthenticationFailed("Invalid or expired token.")
    # A widget token works only from the sites its key allows (browsers send Origin).
    if token.widget_key and not token.widget_key.allows_origin(origin):
        raise OriginNotAllowed("This widget may not be used from this site.")
    api_token_touch(token=token)
    return token


def parse_bearer(header: bytes) -> str | None:
    parts = header.split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Malformed Authorization header.")
    try:
        return parts[1].decode()
    except UnicodeError as exc:
        raise exceptions.AuthenticationFailed("Malformed token.") from exc


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with tokens stored only as SHA-256 hashes."""

    keyword = "Bearer"

    def authenticate(self, request):
        raw = parse_bearer(authentication.get_authorization_header(request))
        if raw is None:
            return None
        token = bearer_token_check(raw_token=raw, origin=request.headers.get("Origin"))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication; a CSRF failure answers 403 `csrf_failed`."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed(exc.detail) from exc
