"""Dashboards over long ranges (`make bench-long`, bench/bench_long_ranges.py).

    fleet.py   30 days of the mock fleet, simulated offline through the exporter's own simulator
               and recorder, scraped every 15 s into OpenMetrics, turned into TSDB blocks by
               `promtool tsdb create-blocks-from openmetrics`
    rules.py   the shipped recording rules backfilled on those blocks with
               `promtool tsdb create-blocks-from rules`, level by level (a rule reads only what
               earlier levels recorded)
    panels.py  every Prometheus query of every dashboard, at the step Grafana would use over
               24 h, 7 d and 30 d, timed against a real Prometheus on the result
"""
