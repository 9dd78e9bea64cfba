"""The SVG charts as pure functions: scales, escaping, gaps in a line, empty data."""

from chatbot.insights.charts import Series, bar_chart, hbar_chart, line_chart, nice_step


def test_nice_steps_are_round():
    assert [nice_step(v) for v in (4, 7, 10, 95, 0.03, 0)] == [1, 2, 2.5, 25, 0.01, 1]


def test_stacked_bars_sum_to_the_axis_and_say_their_values():
    svg = bar_chart(
        ident="t",
        title="Outcomes",
        description="d",
        labels=["Mon", "Tue"],
        series=[Series("Bot", [3, 1]), Series("Person", [1, 0])],
    )
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert '<title id="t-t">Outcomes</title>' in svg
    assert "<title>Mon: Bot: 3</title>" in svg and "<title>Mon: Person: 1</title>" in svg
    assert "Tue: Person" not in svg  # no empty bar
    assert svg.count("<rect") == 3 + 2  # three bars and a legend of two
    assert svg.__html__() is svg  # templates take it as is


def test_text_is_escaped():
    svg = hbar_chart(ident="g", title="<b>", description="&", items=[('<script>"x"', 2)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


def test_a_missing_value_breaks_the_line():
    svg = line_chart(
        ident="l",
        title="t",
        description="d",
        labels=["a", "b", "c", "d", "e"],
        series=[Series("p50", [1, 2, None, 4, 5])],
    )
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 4


def test_no_data_says_so():
    svg = line_chart(
        ident="e", title="t", description="d", labels=["a"], series=[Series("x", [None])]
    )
    assert "No data for these filters" in svg
