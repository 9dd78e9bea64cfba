"""The dashboard's filters: a date range and, optionally, one widget key."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from accounts.models import WidgetKey

from .selectors import DashboardFilters

DEFAULT_DAYS = 30
MAX_DAYS = 366
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DashboardFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=DATE)
    end = forms.DateField(required=False, widget=DATE)
    widget_key = forms.ModelChoiceField(
        queryset=WidgetKey.objects.order_by("name"),
        to_field_name="public_key",
        required=False,
        empty_label="All widget keys",
        error_messages={"invalid_choice": "Unknown widget key: choose one from the list."},
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        return DashboardFilters(start=data["start"], end=data["end"], widget_key=data["widget_key"])

    @classmethod
    def showing(cls, filters: DashboardFilters) -> "DashboardFilterForm":
        """The form as the page shows it: the range in effect, defaults filled in."""
        return cls(
            initial={"start": filters.start, "end": filters.end, "widget_key": filters.widget_key}
        )
