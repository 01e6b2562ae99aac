"""The operator's Prometheus scrape: what it shows, and who may read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from spine_site import create_app
from spine_site.clock import utcnow
from spine_site.config import ConfigError
from spine_site.extensions import db
from spine_site.models import EmailStatus, OutboxEmail
from tests.factories import make_lead
from tests.html_forms import GUIDE, SCHEDULE, submit_public_form
from tests.support import base_overrides

ROOT = Path(__file__).resolve().parent.parent
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, endpoint: str, status: str, method: str = "GET") -> float:
    labels = {"endpoint": endpoint, "method": method, "status": status}
    return value(samples, "spine_http_requests_total", **labels)


def test_requests_are_counted_by_endpoint_and_status(client):
    before = scrape(client)
    client.get("/")
    client.get("/articles/what-is-a-physiatrist")
    client.get("/no-such-page")
    after = scrape(client)
    for endpoint, status in [
        ("public.index", "200"),
        ("public.article", "200"),
        ("unmatched", "404"),
    ]:
        grown = requests_of(after, endpoint, status) - requests_of(before, endpoint, status)
        assert grown == 1, endpoint
    timed = "spine_http_request_duration_seconds_count"
    assert value(after, timed, endpoint="public.index", method="GET") >= 1


def test_the_scrape_counts_no_request_of_its_own_and_sets_no_cookie(client):
    response = client.get("/metrics")
    assert "Set-Cookie" not in response.headers
    samples = scrape(client)
    endpoints = {dict(labels).get("endpoint") for _, labels in samples}
    assert "metrics" not in endpoints


def test_labels_never_carry_a_raw_path_an_id_or_a_token(app, client):
    token = "ImFiYyJ9.secret-token-value.Zz9"
    client.get(f"/guide/download/{token}")
    client.get("/staff/leads/123")
    client.get(f"/unsubscribe/{token}")
    samples = scrape(client)
    values = {v for _, labels in samples for _, v in labels}
    assert {"public.guide_download", "staff.lead", "public.unsubscribe"} <= values
    for label_value in values:
        assert "/" not in label_value
        assert "123" not in label_value
        assert token not in label_value and "secret-token" not in label_value


def test_leads_are_counted_by_form_after_real_posts(app, client):
    before = scrape(client)
    assert submit_public_form(client, "schedule", SCHEDULE).status_code == 303
    assert submit_public_form(client, "guide", GUIDE).status_code == 303
    make_lead(app, "guide", spam=True, email="bot@example.org")
    after = scrape(client)
    for form in ("appointment", "guide"):
        grown = value(after, "spine_leads_stored_total", form=form) - value(
            before, "spine_leads_stored_total", form=form
        )
        assert grown == 1, form
    spam = "spine_spam_quarantined_total"
    assert value(after, spam, form="guide") - value(before, spam, form="guide") == 1


def test_page_views_are_counted_for_browsers_only(client):
    before = value(scrape(client), "spine_page_views_total")
    client.get("/", headers=BROWSER)
    client.get("/")  # the test client says it is werkzeug: a script, not a reader
    assert value(scrape(client), "spine_page_views_total") == before + 1


def test_emails_by_status_and_the_oldest_queued_age_come_from_the_database(app, client):
    samples = scrape(client)
    assert value(samples, "spine_outbox_emails", status="queued") == 0
    assert value(samples, "spine_outbox_oldest_queued_age_seconds") == 0
    make_lead(app, "appointment")
    make_lead(app, "guide", email="ada@example.org")
    with app.app_context():
        queued = db.session.scalars(select(OutboxEmail.id).order_by(OutboxEmail.id)).all()
        assert len(queued) >= 3
        db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == queued[0])
            .values(status=EmailStatus.FAILED, created_at=utcnow() - timedelta(hours=5))
        )
        db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == queued[1])
            .values(created_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "spine_outbox_emails", status="failed") == 1
    assert value(samples, "spine_outbox_emails", status="queued") == len(queued) - 1
    assert value(samples, "spine_outbox_emails", status="sent") == 0
    # The failed email is older, but it waits for nobody: the age is the queued one's.
    age = value(samples, "spine_outbox_oldest_queued_age_seconds")
    assert 3600 <= age < 3700


def test_an_address_not_allowed_gets_the_ordinary_404(app):
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    response = outside.get("/metrics")
    assert response.status_code == 404
    unknown = outside.get("/no-such-page")
    # The same page and headers as any unknown path (only the canonical link names the path).
    assert response.get_data(as_text=True) == unknown.get_data(as_text=True).replace(
        "/no-such-page", "/metrics"
    )
    assert set(response.headers.keys()) == set(unknown.headers.keys())
    assert "spine_" not in response.get_data(as_text=True)


def test_behind_a_proxy_the_forwarded_client_address_is_checked(app_factory):
    app = app_factory(TRUSTED_PROXIES=1)
    client = app.test_client()
    # nginx on loopback forwards an outside client: the client's address decides.
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_allowed_networks_are_cidrs(app_factory):
    app = app_factory(METRICS_ALLOWED="10.0.0.0/8, 2001:db8::/32")
    for address in ("10.20.30.40", "2001:db8::5", "::ffff:10.1.1.1"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        assert client.get("/metrics").status_code == 200, address
    # Loopback is no longer in the list.
    assert app.test_client().get("/metrics").status_code == 404


def test_empty_setting_turns_metrics_off(app_factory):
    app = app_factory(METRICS_ALLOWED="")
    assert app.test_client().get("/metrics").status_code == 404
    assert "metrics" not in {rule.endpoint for rule in app.url_map.iter_rules()}


def test_empty_setting_from_the_environment_turns_metrics_off(monkeypatch, tmp_path):
    monkeypatch.setenv("METRICS_ALLOWED", "")
    app = create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    assert app.config["METRICS_ALLOWED"] == ""
    assert app.test_client().get("/metrics").status_code == 404


def test_a_bad_address_stops_start_up_naming_the_setting(app_factory):
    with pytest.raises(ConfigError, match="METRICS_ALLOWED"):
        app_factory(METRICS_ALLOWED="127.0.0.1,localhost")


# Two "workers" with PROMETHEUS_MULTIPROC_DIR set, one request each; a third process
# scrapes: it sees both workers' requests.
MULTIPROCESS = """
import json, sys
from pathlib import Path
from tests.support import base_overrides
from spine_site import create_app
from spine_site.extensions import db
tmp = Path(sys.argv[1])
app = create_app(base_overrides(tmp, f"sqlite:///{tmp / 'shared.sqlite3'}"))
with app.app_context():
    db.create_all()
client = app.test_client()
if sys.argv[2] == "serve":
    print(client.get("/robots.txt").status_code)
else:
    print(json.dumps(client.get("/metrics").get_data(as_text=True)))
"""


def test_gunicorn_workers_are_added_up_in_multiprocess_mode(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}

    def run(mode: str) -> str:
        result = subprocess.run(
            [sys.executable, "-c", MULTIPROCESS, str(tmp_path), mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    assert run("serve") == "200"
    assert run("serve") == "200"
    text = json.loads(run("scrape"))
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = frozenset({"endpoint": "public.robots", "method": "GET", "status": "200"}.items())
    assert samples[("spine_http_requests_total", labels)] == 2
