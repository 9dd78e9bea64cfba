"""This month's spend per user in the admin (list column and a read-only field).

Both come from `chatbot.cost.budgets.spend_annotations`: subqueries in the same SQL statement
as the users, so the user list costs one query however many users it shows."""

from django.contrib import admin

from chatbot.cost.budgets import budget_resolve, spend_annotations


class MonthSpendAdminMixin:
    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**spend_annotations())

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "month_spend"] if obj is not None else fields

    @admin.display(description="Spend this month", ordering="month_cost")
    def month_spend(self, obj) -> str:
        tokens = getattr(obj, "month_tokens", None)
        cost = getattr(obj, "month_cost", None)
        if tokens is None:  # not from the annotated queryset
            return "—"
        return f"{tokens:,} tokens · {cost:.4f}"


def budget_summary(preference) -> str:
    """Human text of a preference's effective budget (blank fields: the settings default)."""
    budget = budget_resolve(
        monthly_token_budget=preference.monthly_token_budget,
        monthly_cost_budget=preference.monthly_cost_budget,
    )
    if budget.unlimited:
        return "Unlimited"
    parts = []
    if budget.tokens is not None:
        parts.append(f"{budget.tokens:,} tokens")
    if budget.cost is not None:
        parts.append(f"{budget.cost} in cost")
    return " and ".join(parts) + " per month"
