"""The managers' dashboard in the admin (an interface: it parses the filters, checks the
permission, calls one selector and renders)."""

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from .forms import DashboardFilterForm
from .report import CHARTS, CHARTS_BY_KEY, Chart
from .selectors import Dashboard, dashboard_build

PERMISSION = "insights.view_dashboard"


def _csv_cell(value: str) -> str:
    # Spreadsheets run cells that start with these as formulas (CSV injection): gap
    # questions are customers' words.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_response(chart: Chart, dashboard: Dashboard) -> HttpResponse:
    f = dashboard.filters
    suffix = f"-{f.widget_key.public_key}" if f.widget_key else ""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="chatdesk-{chart.key}-{f.start}-{f.end}{suffix}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(chart.columns)
    for row in chart.rows(dashboard):
        writer.writerow([_csv_cell(cell) for cell in row])
    return response


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = DashboardFilterForm(request.GET)
    export = request.GET.get("export")
    if export is not None and export not in CHARTS_BY_KEY:
        known = ", ".join(CHARTS_BY_KEY)
        return HttpResponse(
            f"Unknown chart {export[:40]!r} to export; one of: {known}.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if not form.is_valid():
        if export is not None:
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            return HttpResponse(
                f"Invalid filters: {errors}", status=400, content_type="text/plain; charset=utf-8"
            )
        context = {**admin.site.each_context(request), "title": "Dashboard", "form": form}
        return TemplateResponse(request, "admin/insights/dashboard.html", context, status=400)
    dashboard = dashboard_build(filters=form.filters())
    if export is not None:
        return _csv_response(CHARTS_BY_KEY[export], dashboard)
    query = request.GET.copy()
    query.pop("export", None)
    figures = [
        {
            "chart": chart,
            "svgs": chart.svgs(dashboard),
            "table": _table(chart, chart.rows(dashboard)),
            "csv_query": _with_export(query, chart.key),
        }
        for chart in CHARTS
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "form": DashboardFilterForm.showing(dashboard.filters),
        "dashboard": dashboard,
        "figures": figures,
    }
    return TemplateResponse(request, "admin/insights/dashboard.html", context)


def _with_export(query, key: str) -> str:
    query = query.copy()
    query["export"] = key
    return query.urlencode()


def _table(chart: Chart, rows: list[list[str]]):
    """The chart's figures as an HTML table (built here: a 366-day range is thousands of
    cells, which the template language would render ten times slower)."""
    head = format_html_join("", '<th scope="col">{}</th>', ((c,) for c in chart.columns))
    if not rows:
        body = format_html(
            '<tr><td colspan="{}">No data for these filters.</td></tr>', len(chart.columns)
        )
    else:
        body = format_html_join(
            "",
            '<tr><th scope="row">{}</th>{}</tr>',
            (
                (row[0], format_html_join("", "<td>{}</td>", ((cell,) for cell in row[1:])))
                for row in rows
            ),
        )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
