"""Counters for /metrics, cheap enough for the RADIUS hot path.

The hot path bumps plain dict counters (no locks: everything runs on the
reactor thread); a Prometheus collector turns them into metric families
only when /metrics is scraped.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry


class Stats:
    """Named counters with one optional label each, and gauges read on scrape."""

    def __init__(self) -> None:
        self.counters: dict[str, defaultdict[str, int]] = {}
        self.help: dict[str, tuple[str, str]] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

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
        for name, (doc, fn) in self.stats.gauges.items():
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], fn())
            yield gauge
