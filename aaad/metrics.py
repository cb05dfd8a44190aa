"""Counters for /metrics, cheap enough for the RADIUS hot path.

The hot path bumps plain dict counters (no locks: everything runs on the
reactor thread); a Prometheus collector turns them into metric families
only when /metrics is scraped.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry

#: Latency buckets, in seconds, from sub-millisecond RADIUS answers to slow HTTP calls.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """A histogram with named labels; ``observe`` is a bisect and two additions."""

    def __init__(self, doc: str, labels: Sequence[str], buckets: Sequence[float]):
        self.doc = doc
        self.labels = tuple(labels)
        self.buckets = tuple(buckets)
        self.series: dict[tuple[str, ...], list[float]] = {}   # counts per bucket + [+Inf, sum]

    def observe(self, value: float, *label_values: str) -> None:
        s = self.series.get(label_values)
        if s is None:
            s = self.series[label_values] = [0.0] * (len(self.buckets) + 2)
        s[bisect.bisect_left(self.buckets, value)] += 1
        s[-1] += value

    def family(self, name: str) -> HistogramMetricFamily:
        fam = HistogramMetricFamily(name, self.doc, labels=list(self.labels))
        for key, s in sorted(self.series.items()):
            cum, points = 0.0, []
            for le, n in zip(self.buckets, s, strict=False):
                cum += n
                points.append((repr(le), cum))
            points.append(("+Inf", cum + s[len(self.buckets)]))
            fam.add_metric(list(key), points, sum_value=s[-1])
        return fam


class Stats:
    """Named counters with one optional label each, histograms, and gauges read on scrape."""

    def __init__(self) -> None:
        self.counters: dict[str, defaultdict[str, int]] = {}
        self.help: dict[str, tuple[str, str]] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.histograms: dict[str, Histogram] = {}

    def histogram(self, name: str, doc: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
        """Declare a histogram (or get the one declared under ``name``)."""
        h = self.histograms.get(name)
        if h is None:
            h = self.histograms[name] = Histogram(doc, labels, buckets)
        return h

    def counter(self, name: str, doc: str, label: str = "") -> defaultdict[str, int]:
        """Declare a counter; returns the dict to bump: ``c[label_value] += 1``."""
        c = self.counters.get(name)
        if c is None:
            c = self.counters[name] = defaultdict(int)
            self.help[name] = (doc, label)
        return c

    def gauge(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        self.gauges[name] = (doc, fn)

    def registry(self) -> CollectorRegistry:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(_Collector(self))
        return reg


class _Collector:
    def __init__(self, stats: Stats):
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        for name, values in self.stats.counters.items():
            doc, label = self.stats.help[name]
            fam = CounterMetricFamily(name, doc, labels=[label] if label else [])
            if label:
                for k, v in sorted(values.items()):
                    fam.add_metric([str(k)], v)
            else:
                fam.add_metric([], values.get("", 0))
            yield fam
        for name, h in self.stats.histograms.items():
            yield h.family(name)
        for name, (doc, fn) in self.stats.gauges.items():
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], fn())
            yield gauge
