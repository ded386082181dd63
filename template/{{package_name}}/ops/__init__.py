"""Operations: the log lines, the request middleware, Sentry, OpenTelemetry, Prometheus.

Only the entry points wire it: the app factory (`main.py`), prestart and the worker's start.
The code below it reports through `core/reports.py` and never imports it.
"""
