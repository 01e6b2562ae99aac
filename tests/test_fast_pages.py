"""The kept public pages answered before Flask (public/fast_pages.py) answer exactly as
Flask's own path does: the same status, the same headers in the same order, the same body
(but for the per-visitor form token), the same view counts and request metrics.

Each request below is sent twice, once to the fast layer and once straight to Flask behind
it, and the answers are compared. Requests the fast layer must leave to Flask are checked to
reach Flask.
"""

from __future__ import annotations

import gzip
import re
from typing import Any

import brotli
import pytest
from sqlalchemy import create_engine
from werkzeug.test import EnvironBuilder, run_wsgi_app

from spine_site import tokens
from spine_site.health import DatabaseProbe
from spine_site.public.fast_pages import FastPages
from spine_site.public.visits import VISIT_COOKIE

ARTICLE = "/articles/what-is-a-physiatrist"
PAGES = [ARTICLE, "/", "/schedule", "/guide", "/robots.txt", "/sitemap.xml", "/healthz"]
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
_TOKEN = re.compile(tokens.FORM_TOKEN_PATTERN.encode())
DECODE = {"br": brotli.decompress, "gzip": gzip.decompress}

# Requests a kept page gets: first visits and returning ones, browsers and bots, each
# compression a browser may ask for, https, and referrers from elsewhere and from here.
VARIANTS: dict[str, dict[str, Any]] = {
    "first visit": {"headers": {"User-Agent": BROWSER}},
    "no user agent (not counted)": {},
    "crawler": {"headers": {"User-Agent": "Googlebot/2.1"}},
    "prefetch": {"headers": {"User-Agent": BROWSER, "Sec-Purpose": "prefetch"}},
    "brotli": {"headers": {"User-Agent": BROWSER, "Accept-Encoding": "gzip, deflate, br"}},
    "gzip": {"headers": {"User-Agent": BROWSER, "Accept-Encoding": "gzip"}},
    "gzip preferred": {"headers": {"User-Agent": BROWSER, "Accept-Encoding": "br;q=0.5, gzip"}},
    "identity": {"headers": {"User-Agent": BROWSER, "Accept-Encoding": "identity"}},
    "anything": {"headers": {"User-Agent": BROWSER, "Accept-Encoding": "*"}},
    "returning": {"headers": {"User-Agent": BROWSER, "Cookie": f"{VISIT_COOKIE}=l=%2F"}},
    "outside referrer": {
        "headers": {"User-Agent": BROWSER, "Referer": "https://www.google.com/search?q=x"}
    },
    "own referrer": {"headers": {"User-Agent": BROWSER, "Referer": "http://localhost/"}},
    "bad referrer": {"headers": {"User-Agent": BROWSER, "Referer": "http://[::1"}},
    "https": {"headers": {"User-Agent": BROWSER}, "base_url": "https://clinic.example"},
    "empty cookie header": {"headers": {"User-Agent": BROWSER, "Cookie": ""}},
}


@pytest.fixture
def fast_app(app_factory):
    # Articles checked once a minute, as production does every few seconds (in the other
    # tests every request checks, and so still goes through this layer).
    app = app_factory(ARTICLES_CHECK_SECONDS=60)
    # The worker's first look at the articles (which empties the kept pages) done now, as
    # a running site has long done it.
    app.extensions["articles"].current()
    return app


def fast_layer(app) -> FastPages:
    layer = app.wsgi_app
    while not isinstance(layer, FastPages):
        layer = getattr(layer, "application", None) or layer.app  # WhiteNoise, ProxyFix
    return layer


def call(wsgi, path: str, **variant: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    environ = EnvironBuilder(path=path, **variant).get_environ()
    body, status, headers = run_wsgi_app(wsgi, environ, buffered=True)
    return status, list(headers.items()), b"".join(body)


def comparable(answer: tuple[str, list[tuple[str, str]], bytes]) -> tuple[Any, ...]:
    """The answer with the per-visitor token blanked (and the compressed length, which a
    token changes by a byte or two, checked against the body instead)."""
    status, headers, body = answer
    encoding = dict(headers).get("Content-Encoding")
    length = int(dict(headers)["Content-Length"])
    assert length == len(body)
    plain = DECODE[encoding](body) if encoding else body
    if encoding and _TOKEN.search(plain):
        headers = [(k, "(varies)" if k == "Content-Length" else v) for k, v in headers]
    return status, headers, _TOKEN.sub(b"TOKEN", plain)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("path", PAGES)
def test_the_fast_layer_answers_as_flask_does(fast_app, path, variant):
    layer = fast_layer(fast_app)
    flask_answer = call(layer.wsgi_app, path, **VARIANTS[variant])  # and keeps the page
    assert layer._page_for(EnvironBuilder(path=path, **VARIANTS[variant]).get_environ())
    fast_answer = call(layer, path, **VARIANTS[variant])
    assert comparable(fast_answer) == comparable(flask_answer)
    if _TOKEN.search(comparable(flask_answer)[2]):
        # A page with a form gets a new token every time.
        assert fast_answer[2] != flask_answer[2]


@pytest.mark.parametrize("path", PAGES)
def test_views_and_requests_are_counted_alike(fast_app, path):
    from spine_site import metrics

    layer = fast_layer(fast_app)
    counter = fast_app.extensions["view_counter"]
    variants = list(VARIANTS.values())

    def counts(wsgi) -> tuple[int, float]:
        before, requests = counter.pending(), metrics.REQUESTS._metrics
        seen = sum(c._value.get() for c in requests.values())
        for variant in variants:
            call(wsgi, path, **variant)
        return counter.pending() - before, sum(
            c._value.get() for c in metrics.REQUESTS._metrics.values()
        ) - seen

    call(layer.wsgi_app, path)  # keep the page
    assert counts(layer) == counts(layer.wsgi_app)
    reader_page = path not in {"/robots.txt", "/sitemap.xml", "/healthz"}
    # Browsers count (12 of the variants); no user agent, the crawler and a prefetch do not.
    assert counts(layer)[0] == (len(variants) - 3 if reader_page else 0)


LEFT_TO_FLASK: dict[str, dict[str, Any]] = {
    "HEAD": {"method": "HEAD"},
    "POST": {"method": "POST"},
    "query string": {"query_string": "utm_source=newsletter"},
    "If-None-Match": {"headers": {"If-None-Match": 'W/"x"'}},
    "If-Modified-Since": {"headers": {"If-Modified-Since": "Sun, 29 Nov 2026 11:00:00 GMT"}},
    "a session cookie": {"headers": {"Cookie": f"{VISIT_COOKIE}=l=%2F; session=abc"}},
    "a look-alike cookie": {"headers": {"Cookie": f"{VISIT_COOKIE}x=1"}},
}


@pytest.mark.parametrize("variant", LEFT_TO_FLASK)
def test_less_common_requests_are_left_to_flask(fast_app, variant):
    layer = fast_layer(fast_app)
    call(layer.wsgi_app, ARTICLE)
    environ = EnvironBuilder(path=ARTICLE, **LEFT_TO_FLASK[variant]).get_environ()
    assert layer._page_for(environ) is None
    assert layer._page_for(EnvironBuilder(path=ARTICLE).get_environ()) is not None


def test_pages_not_yet_kept_and_other_paths_go_to_flask(fast_app):
    layer = fast_layer(fast_app)
    for path in [ARTICLE, "/privacy", "/articles/no-such-article", "/healthz/ready", ARTICLE + "/"]:
        assert layer._page_for(EnvironBuilder(path=path).get_environ()) is None


def test_behind_a_proxy_https_is_read_before_the_fast_layer(app_factory):
    app = app_factory(TRUSTED_PROXIES=1, ARTICLES_CHECK_SECONDS=60)
    app.extensions["articles"].current()
    client = app.test_client()
    client.get(ARTICLE)  # kept now
    response = client.get(ARTICLE, headers={"X-Forwarded-Proto": "https"})
    assert fast_layer(app)._page_for(EnvironBuilder(path=ARTICLE).get_environ())
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_publish_reaches_the_fast_layer(fast_app):
    """A kept page is dropped when the articles change: the next visit is Flask's again."""
    layer = fast_layer(fast_app)
    call(layer.wsgi_app, "/")
    environ = EnvironBuilder(path="/").get_environ()
    assert layer._page_for(environ) is not None
    live = fast_app.extensions["articles"]
    live._changed(None)  # what a check that finds a change does
    assert layer._page_for(environ) is None


def test_not_used_when_the_app_checks_the_host(app_factory):
    """With TRUSTED_HOSTS set Flask answers other hosts itself; the fast layer is left out."""
    app = app_factory(TRUSTED_HOSTS=["clinic.example"])
    layer = app.wsgi_app
    while layer is not None and not isinstance(layer, FastPages):
        layer = getattr(layer, "application", None) or getattr(layer, "app", None)
    assert layer is None


def test_healthz_still_asks_the_database_every_time(fast_app, tmp_path):
    """A kept /healthz is answered only after the database answered; when it does not, the
    request goes to Flask's view, which answers 503 (tests/test_pages.py)."""
    layer = fast_layer(fast_app)
    assert call(layer.wsgi_app, "/healthz")[0] == "200 OK"
    environ = EnvironBuilder(path="/healthz").get_environ()
    assert layer._page_for(environ)
    # A database that cannot be reached (a folder that does not exist).
    working = layer._probe
    layer._probe = DatabaseProbe(create_engine(f"sqlite:///{tmp_path}/no/such/folder/x.db"))
    assert layer._page_for(environ) is None
    # A connection that broke (the database restarted) is replaced by a new one.
    assert working is not None and working._connection is not None
    working._connection.close()
    layer._probe = working
    assert layer._page_for(environ)
    # Pages do not ask the database: they are still answered here.
    call(layer.wsgi_app, "/")
    assert layer._page_for(EnvironBuilder(path="/").get_environ())
