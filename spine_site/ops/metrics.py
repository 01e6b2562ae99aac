"""Prometheus metrics: what the site does (requests, leads, page views) and what waits (mail).

Counters live in this process (or, under gunicorn with PROMETHEUS_MULTIPROC_DIR set, in
files every worker writes and the scraping worker adds up). Figures the database already
holds (emails queued, failed, sent; the oldest queued email's age) are read at scrape time,
one small query each, so they are right across restarts and across hosts.

`/metrics` answers only addresses in METRICS_ALLOWED; everyone else gets the ordinary 404,
so the endpoint does not announce itself. It sets no cookie and counts no request of its own.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterable, Iterator

from flask import Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from spine_site.clock import utcnow
from spine_site.config import ConfigError
from spine_site.extensions import db
from spine_site.models import EmailStatus, FormKind, OutboxEmail
from spine_site.ops import health

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# From 2.5 ms (a cached article page) to 10 s (a request stuck behind the database).
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method a client makes up is one label value, not a new series per word.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "spine_site.ops.metrics.started"

REQUESTS = Counter(
    "spine_http_requests",
    "HTTP requests answered, by Flask endpoint (never the raw path), method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "spine_http_request_duration_seconds",
    "Time from the request's first hook to its response, by Flask endpoint and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
)
LEADS = Counter("spine_leads_stored", "Leads stored (spam excluded), by form.", ["form"])
SPAM = Counter(
    "spine_spam_quarantined", "Submissions kept in quarantine as spam, by form.", ["form"]
)
PAGE_VIEWS = Counter("spine_page_views", "Page views counted for analytics by this site.")

# Label values exist from the start, so a rate() over a quiet form reads 0, not "no data".
for _form in FormKind:
    LEADS.labels(form=_form.value)
    SPAM.labels(form=_form.value)


def init_app(app: Flask) -> None:
    """Time and count every request; serve /metrics only when some address may read it."""
    allowed = parse_allowed(app.config.get("METRICS_ALLOWED") or "")
    app.extensions["metrics_allowed"] = allowed
    app.before_request(_start_timer)
    app.after_request(_count_request)
    if allowed:
        # No route at all when off: a 404 like any unknown path.
        app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])


def parse_allowed(text: str) -> tuple[Network, ...]:
    """METRICS_ALLOWED as networks; a bad entry stops start-up naming the setting."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"METRICS_ALLOWED: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)."
            ) from None
    return tuple(networks)


def address_allowed(address: str | None, allowed: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in allowed)


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _count_request(response: Response) -> Response:
    endpoint = request.endpoint or "unmatched"
    if endpoint == "metrics":
        return response
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = request.environ.get(_STARTED)
    if started is not None:  # (None: an earlier before_request hook answered)
        LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def lead_stored(form: FormKind, *, spam: bool) -> None:
    """Count one new submission (intake calls this after its commit)."""
    (SPAM if spam else LEADS).labels(form=form.value).inc()


def page_viewed() -> None:
    PAGE_VIEWS.inc()


def metrics_view() -> Response:
    if not address_allowed(request.remote_addr, current_app.extensions["metrics_allowed"]):
        abort(404)
    body = generate_latest(_process_registry()) + generate_latest(_database_registry())
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _process_registry() -> CollectorRegistry:
    # Under gunicorn every worker writes its counters to files in this directory; a fresh
    # registry over them adds all workers up (the default one would show only this worker).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _database_registry() -> CollectorRegistry:
    # A registry per scrape: the collector reads through this app's session, and test apps
    # come and go in one process.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector())
    return registry


class OutboxCollector(Collector):
    """Emails by status and the oldest queued one's age, read from the database."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            by_status = dict(
                db.session.execute(
                    select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)
                ).all()
            )
            oldest = health.oldest_waiting_email()
        finally:
            db.session.rollback()
        emails = GaugeMetricFamily(
            "spine_outbox_emails",
            "Emails in the outbox by status (sent and failed drop when leads are purged).",
            labels=["status"],
        )
        for status in EmailStatus:
            emails.add_metric([status.value], by_status.get(status, 0))
        yield emails
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "spine_outbox_oldest_queued_age_seconds",
            "Age of the oldest email still waiting to be sent (0 when none waits).",
            value=max(0.0, age),
        )
