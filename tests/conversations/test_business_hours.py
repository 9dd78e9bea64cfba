"""Business hours (pure) and the estimated wait (from the timeline)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from conversations import business_hours as bh
from conversations.models import ConversationEvent
from conversations.selectors import handoff_estimated_wait_seconds
from tests.factories import ConversationFactory

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday


def test_empty_spec_is_always_open():
    assert bh.business_hours_parse("") == ()
    assert bh.is_open((), at=MONDAY_10, time_zone="UTC")


def test_days_ranges_lists_and_wrap():
    windows = bh.business_hours_parse("mon-fri 09:00-18:00; sat, sun 10:00-12:00")
    assert {w.weekday for w in windows} == set(range(7))
    assert bh.is_open(windows, at=MONDAY_10, time_zone="UTC")
    assert not bh.is_open(windows, at=MONDAY_10.replace(hour=18), time_zone="UTC")  # end excl.
    assert bh.is_open(windows, at=MONDAY_10 + timedelta(days=5), time_zone="UTC")  # sat 10:00
    assert not bh.is_open(windows, at=MONDAY_10 + timedelta(days=5, hours=3), time_zone="UTC")
    wrap = bh.business_hours_parse("fri-mon 00:00-24:00")
    assert sorted({w.weekday for w in wrap}) == [0, 4, 5, 6]


def test_time_zone_is_applied():
    windows = bh.business_hours_parse("mon 09:00-10:00")
    # 10:00 UTC is 18:00 in Shanghai: closed there; 09:30 in UTC is open.
    assert not bh.is_open(windows, at=MONDAY_10, time_zone="Asia/Shanghai")
    assert bh.is_open(windows, at=MONDAY_10 - timedelta(minutes=30), time_zone="UTC")
    assert bh.opening_time(windows, at=MONDAY_10 - timedelta(hours=2), time_zone="UTC") == time(9)


@pytest.mark.parametrize(
    "spec", ["monday 09:00-10:00", "mon 9-10", "mon 10:00-09:00", "mon 25:00-26:00", "xyz"]
)
def test_bad_specs_are_refused_clearly(spec):
    with pytest.raises(bh.BusinessHoursInvalid):
        bh.business_hours_parse(spec)


@pytest.mark.django_db
def test_estimated_wait_is_the_median_of_recent_pickups():
    assert handoff_estimated_wait_seconds() is None
    conversation = ConversationFactory()
    for seconds in (30, 90):
        ConversationEvent.objects.create(
            conversation=conversation, kind="taken_over", detail={"pickup_seconds": seconds}
        )
    assert handoff_estimated_wait_seconds() is None  # too few to say
    ConversationEvent.objects.create(
        conversation=conversation, kind="assigned", detail={"pickup_seconds": 600}
    )
    assert handoff_estimated_wait_seconds() == 90
