"""accounts.services at the service level: widget sessions, HMAC identity, token lifetime."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import IdentityInvalid, OriginNotAllowed, WidgetKeyInvalid
from accounts.models import ApiToken
from accounts.selectors import api_token_lookup
from accounts.services import (
    api_token_create,
    api_token_touch,
    identity_hash,
    visitor_session_create,
    widget_key_create,
    widget_key_rotate_identity_secret,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_with_secret():
    key = widget_key_create(name="Shop", allowed_origins=["https://shop.example"])
    secret = widget_key_rotate_identity_secret(widget_key=key)
    return key, secret


class TestIdentity:
    def test_a_valid_hash_gives_the_same_customer_on_every_device(self, key_with_secret):
        key, secret = key_with_secret
        user_hash = identity_hash(secret=secret, external_user_id="42")
        first = visitor_session_create(
            public_key=key.public_key,
            origin="https://shop.example",
            external_user_id="42",
            user_hash=user_hash,
        )
        second = visitor_session_create(
            public_key=key.public_key,
            origin="https://shop.example",
            external_user_id="42",
            user_hash=user_hash.upper(),  # hex case does not matter
        )
        assert first.user.pk == second.user.pk
        assert first.user.external_id == "42" and not first.user.is_visitor
        assert first.token != second.token
        assert not first.user.has_usable_password()

    def test_a_hash_for_another_user_id_is_refused(self, key_with_secret):
        key, secret = key_with_secret
        with pytest.raises(IdentityInvalid):
            visitor_session_create(
                public_key=key.public_key,
                origin="https://shop.example",
                external_user_id="43",
                user_hash=identity_hash(secret=secret, external_user_id="42"),
            )

    def test_a_rotated_secret_invalidates_old_hashes(self, key_with_secret):
        key, secret = key_with_secret
        old_hash = identity_hash(secret=secret, external_user_id="42")
        widget_key_rotate_identity_secret(widget_key=key)
        with pytest.raises(IdentityInvalid):
            visitor_session_create(
                public_key=key.public_key,
                origin="https://shop.example",
                external_user_id="42",
                user_hash=old_hash,
            )

    def test_identity_needs_a_key_with_a_secret_and_both_fields(self, key_with_secret):
        plain = widget_key_create(name="No secret")
        with pytest.raises(IdentityInvalid):
            visitor_session_create(
                public_key=plain.public_key, origin=None, external_user_id="1", user_hash="ab"
            )
        key, _secret = key_with_secret
        with pytest.raises(IdentityInvalid):
            visitor_session_create(
                public_key=key.public_key, origin="https://shop.example", external_user_id="1"
            )

    def test_the_same_user_id_on_two_sites_is_two_customers(self, key_with_secret):
        key, secret = key_with_secret
        other = widget_key_create(name="Other shop")
        other_secret = widget_key_rotate_identity_secret(widget_key=other)
        on_shop = visitor_session_create(
            public_key=key.public_key,
            origin="https://shop.example",
            external_user_id="42",
            user_hash=identity_hash(secret=secret, external_user_id="42"),
        )
        on_other = visitor_session_create(
            public_key=other.public_key,
            origin=None,
            external_user_id="42",
            user_hash=identity_hash(secret=other_secret, external_user_id="42"),
        )
        assert on_shop.user.pk != on_other.user.pk


class TestSessions:
    def test_unknown_inactive_key_and_foreign_origin_are_refused(self, key_with_secret):
        key, _ = key_with_secret
        with pytest.raises(WidgetKeyInvalid):
            visitor_session_create(public_key="wk_nope", origin=None)
        with pytest.raises(OriginNotAllowed):
            visitor_session_create(public_key=key.public_key, origin="https://evil.example")
        key.is_active = False
        key.save()
        with pytest.raises(WidgetKeyInvalid):
            visitor_session_create(public_key=key.public_key, origin="https://shop.example")

    def test_an_anonymous_visitor_gets_a_fresh_customer(self, key_with_secret):
        key, _ = key_with_secret
        a = visitor_session_create(public_key=key.public_key, origin="https://shop.example")
        b = visitor_session_create(public_key=key.public_key, origin="https://shop.example")
        assert a.user.is_visitor and b.user.is_visitor and a.user.pk != b.user.pk


class TestTokenLifetime:
    def test_deactivating_a_widget_key_revokes_its_tokens_at_once(self, key_with_secret):
        key, _ = key_with_secret
        session = visitor_session_create(public_key=key.public_key, origin="https://shop.example")
        assert api_token_lookup(raw_token=session.token) is not None
        key.is_active = False
        key.save(update_fields=["is_active"])
        assert api_token_lookup(raw_token=session.token) is None

    def test_a_token_unused_longer_than_the_idle_timeout_stops_working(self, settings):
        settings.API_TOKEN_IDLE_TIMEOUT_SECONDS = 3600
        raw = api_token_create(user=UserFactory())
        token = ApiToken.objects.get(token_hash=ApiToken.hash(raw))
        assert api_token_lookup(raw_token=raw) is not None
        ApiToken.objects.filter(pk=token.pk).update(
            created_at=timezone.now() - timedelta(hours=3),
            last_used_at=timezone.now() - timedelta(minutes=30),
        )
        assert api_token_lookup(raw_token=raw) is not None  # used recently enough
        ApiToken.objects.filter(pk=token.pk).update(
            last_used_at=timezone.now() - timedelta(hours=2)
        )
        assert api_token_lookup(raw_token=raw) is None

    def test_last_use_is_written_at_most_once_per_interval(
        self, settings, django_assert_num_queries
    ):
        settings.API_TOKEN_TOUCH_SECONDS = 300
        raw = api_token_create(user=UserFactory())
        token = ApiToken.objects.get(token_hash=ApiToken.hash(raw))
        with django_assert_num_queries(1):
            api_token_touch(token=token)
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        assert first is not None
        with django_assert_num_queries(0):
            api_token_touch(token=token)
        # Another process's stale copy does not write either: the UPDATE is conditional.
        stale = ApiToken.objects.get(pk=token.pk)
        stale.last_used_at = None
        api_token_touch(token=stale)
        assert ApiToken.objects.get(pk=token.pk).last_used_at == first

    def test_every_authenticated_request_records_use(self, api_client):
        raw = api_token_create(user=UserFactory())
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert api_client.get("/api/v1/conversations/").status_code == 200
        assert ApiToken.objects.get(token_hash=ApiToken.hash(raw)).last_used_at is not None
