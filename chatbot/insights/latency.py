"""Reply-latency histograms: logarithmic buckets 2 % wide, each keeping its count and its
largest value, so that they add up across days and widget keys and still give p50/p95
within 2 % (exact when the percentile is the largest value of its bucket). Pure functions.
"""

import math
from collections.abc import Iterable

RATIO = 1.02
# A day's histograms are kept per widget key and, under this key, for all of them together.
ALL_KEYS = "all"
_LOG_RATIO = math.log(RATIO)

# {bucket: [answers, largest ms]}; JSON turns the keys into strings, so both are accepted.
Histogram = dict


def bucket_of(latency_ms: int) -> int:
    return math.floor(math.log(max(latency_ms, 1)) / _LOG_RATIO)


def histogram_add(histogram: Histogram, latencies: Iterable[int]) -> Histogram:
    for ms in latencies:
        key = str(bucket_of(ms))
        count, largest = histogram.get(key, (0, 0))
        histogram[key] = [count + 1, max(largest, ms)]
    return histogram


def histogram_merge(into: Histogram, other: Histogram) -> Histogram:
    for key, (count, largest) in other.items():
        have, top = into.get(key, (0, 0))
        into[key] = [have + count, max(top, largest)]
    return into


def histogram_count(histogram: Histogram) -> int:
    return sum(count for count, _ in histogram.values())


def histogram_percentile(histogram: Histogram, fraction: float) -> int | None:
    """Nearest rank, like Postgres's percentile_disc: the largest value of the bucket that
    holds the ceil(fraction * n)-th answer."""
    total = histogram_count(histogram)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for key in sorted(histogram, key=int):
        count, largest = histogram[key]
        seen += count
        if seen >= rank:
            return largest
    return None  # pragma: no cover - the counts add up to total
