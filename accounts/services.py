import uuid
from dataclasses import dataclass

from django.db import transaction

from .errors import OriginNotAllowed, WidgetKeyInvalid
from .models import ApiToken, User, WidgetKey


@dataclass(frozen=True, slots=True)
class VisitorSession:
    user: User
    token: str  # shown once; only its hash is stored
    widget_key: WidgetKey


def widget_key_create(*, name: str, allowed_origins: list[str] | None = None) -> WidgetKey:
    return WidgetKey.objects.create(name=name, allowed_origins=allowed_origins or [])


def api_token_create(*, user: User, widget_key: WidgetKey | None = None) -> str:
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, widget_key=widget_key, token_hash=ApiToken.hash(raw))
    return raw


def visitor_session_create(*, public_key: str, origin: str | None) -> VisitorSession:
    """A new anonymous visitor for a widget embedding, with a bearer token."""
    widget_key = WidgetKey.objects.filter(public_key=public_key, is_active=True).first()
    if widget_key is None:
        raise WidgetKeyInvalid("Unknown or inactive widget key.")
    if not widget_key.allows_origin(origin):
        raise OriginNotAllowed("This widget may not be used from this site.")
    with transaction.atomic():
        visitor_id = uuid.uuid4()
        user = User(id=visitor_id, username=f"visitor-{visitor_id.hex}", is_visitor=True)
        user.set_unusable_password()
        user.save()
        token = api_token_create(user=user, widget_key=widget_key)
    return VisitorSession(user=user, token=token, widget_key=widget_key)
