"""Monthly token and money budgets per customer, measured on the provider-call ledger.

A customer's budget is their ModelPreference's `monthly_token_budget` /
`monthly_cost_budget`; blank means the settings default (`BUDGET_MONTHLY_TOKENS`,
`BUDGET_MONTHLY_COST`), and 0 (or an empty setting) means unlimited. Spend is the sum of
`chatbot.ProviderCall` rows (tokens and cost) since the start of the calendar month in
`TIME_ZONE`. Cache hits and merged replies make no provider call, so they cost nothing.

Budgets are checked before a message is accepted (the API answers 429 `budget_exceeded`)
and again by the worker just before the model is called (the queued reply then fails with
`error_code="budget_exceeded"`). They are soft by one call: a reply already in flight when
the limit is crossed still finishes.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db.models import DecimalField, F, OuterRef, PositiveBigIntegerField, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.selectors import ResolvedPreference
from chatbot.models import ProviderCall
from chatbot.platform.errors import ApplicationError


class BudgetExceeded(ApplicationError):
    code = "budget_exceeded"
    status_code = 429


@dataclass(frozen=True, slots=True)
class Budget:
    tokens: int | None  # None: unlimited
    cost: Decimal | None

    @property
    def unlimited(self) -> bool:
        return self.tokens is None and self.cost is None


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int
    cost: Decimal


def _setting_cost() -> Decimal | None:
    raw = str(settings.BUDGET_MONTHLY_COST or "").strip()
    try:
        value = Decimal(raw) if raw else None
    except InvalidOperation:
        value = None
    return value if value else None


def budget_resolve(
    *, monthly_token_budget: int | None, monthly_cost_budget: Decimal | None
) -> Budget:
    """Apply the blank = default, 0 = unlimited rule to a preference's two fields."""
    tokens = (
        settings.BUDGET_MONTHLY_TOKENS if monthly_token_budget is None else monthly_token_budget
    )
    cost = _setting_cost() if monthly_cost_budget is None else monthly_cost_budget
    return Budget(tokens=tokens or None, cost=cost or None)


def budget_of(preference: ResolvedPreference) -> Budget:
    return budget_resolve(
        monthly_token_budget=preference.monthly_token_budget,
        monthly_cost_budget=preference.monthly_cost_budget,
    )


def period_start(now: datetime | None = None) -> datetime:
    """The start of the current budget period: the first of the month, local time."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_end(now: datetime | None = None) -> datetime:
    start = period_start(now)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


_TOKENS = Coalesce(F("prompt_tokens"), 0) + Coalesce(F("completion_tokens"), 0)


def spend_for(*, user_id: uuid.UUID, now: datetime | None = None) -> Spend:
    """This period's spend, in one aggregate query (index pcall_customer_time)."""
    totals = ProviderCall.objects.filter(
        customer_id=user_id, created_at__gte=period_start(now)
    ).aggregate(
        tokens=Coalesce(Sum(_TOKENS), 0, output_field=PositiveBigIntegerField()),
        cost=Coalesce(
            Sum("cost"), Decimal(0), output_field=DecimalField(max_digits=20, decimal_places=8)
        ),
    )
    return Spend(tokens=int(totals["tokens"]), cost=Decimal(totals["cost"]))


def budget_exceeded(*, budget: Budget, spend: Spend) -> bool:
    return bool(
        (budget.tokens is not None and spend.tokens >= budget.tokens)
        or (budget.cost is not None and spend.cost >= budget.cost)
    )


def budget_check(*, user_id: uuid.UUID | None, budget: Budget) -> None:
    """Raise BudgetExceeded when the customer has used up this month's budget."""
    if user_id is None or budget.unlimited:
        return  # no aggregate query at all for the common case
    now = timezone.now()
    if budget_exceeded(budget=budget, spend=spend_for(user_id=user_id, now=now)):
        raise BudgetExceeded(
            "This account has used its budget for this month.",
            extra={
                "retry_after": int((period_end(now) - now).total_seconds()),
                "resets_at": period_end(now).isoformat(),
            },
        )


def spend_annotations(now: datetime | None = None) -> dict:
    """Queryset annotations on users (`month_tokens`, `month_cost`): this period's spend in
    the same SQL statement as the users themselves (the admin list; no N+1)."""
    calls = (
        ProviderCall.objects.filter(customer=OuterRef("pk"), created_at__gte=period_start(now))
        .order_by()
        .values("customer")
    )
    return {
        "month_tokens": Coalesce(
            Subquery(
                calls.annotate(total=Sum(_TOKENS)).values("total"),
                output_field=PositiveBigIntegerField(),
            ),
            0,
        ),
        "month_cost": Coalesce(
            Subquery(
                calls.annotate(total=Sum("cost")).values("total"),
                output_field=DecimalField(max_digits=20, decimal_places=8),
            ),
            Decimal(0),
            output_field=DecimalField(max_digits=20, decimal_places=8),
        ),
    }
