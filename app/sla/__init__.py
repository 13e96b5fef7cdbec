"""The SLA engine: pure functions from timelines, calendars and exclusions to numbers.

Nothing in this package performs I/O or imports other Kadou packages; every adapter
(store, API, reports, metrics) calls into it, so every number Kadou shows comes from here.
Times are integer milliseconds since the Unix epoch (UTC); durations are integer
milliseconds; ratios are exact ``Fraction`` values.
"""
