"""Latency histograms: they merge across days and keys, and their percentiles stay within
2 % of the exact nearest-rank ones (exact when the value is the largest of its bucket)."""

import math
import random

from chatbot.insights.latency import (
    histogram_add,
    histogram_count,
    histogram_merge,
    histogram_percentile,
)


def exact(values, fraction):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def test_percentiles_stay_within_two_percent_of_the_exact_ones():
    rng = random.Random(3)
    days = [
        [int(rng.lognormvariate(7, 0.6)) for _ in range(rng.randint(50, 400))] for _ in range(9)
    ]
    merged: dict = {}
    for values in days:
        histogram_merge(merged, histogram_add({}, values))
    everything = [v for values in days for v in values]
    assert histogram_count(merged) == len(everything)
    for fraction in (0.5, 0.95, 0.99):
        true = exact(everything, fraction)
        got = histogram_percentile(merged, fraction)
        assert true <= got <= true * 1.02, (fraction, true, got)


def test_well_separated_values_are_exact_and_json_keys_work():
    histogram = histogram_add({}, [100, 200, 300, 400])
    as_json = {str(k): list(v) for k, v in histogram.items()}
    assert histogram_percentile(as_json, 0.5) == 200
    assert histogram_percentile(as_json, 0.95) == 400
    assert histogram_percentile({}, 0.5) is None
