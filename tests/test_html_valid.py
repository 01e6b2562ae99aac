"""Every page is valid HTML: the Nu HTML Checker (vnu.jar) finds no errors in any of them.

The pages are rendered with the test client (public ones anonymously, staff ones signed in
as an admin) and checked by one java process. vnu.jar comes from npm: on a laptop without it
(or without java) the test skips and says how to install it; in CI that is a failure, since
.ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.html_forms import form_posting_to
from tests.site_pages import Site, public_pages, seed_site, spanish_pages, staff_pages
from tests.support import IN_CI, signed_in

VNU_INSTALL = "npm install --prefix ~/.cache/spine_site/vnu vnu-jar"
DEFAULT_VNU_JAR = Path.home() / ".cache/spine_site/vnu/node_modules/vnu-jar/build/dist/vnu.jar"


# -- Rendering with the test client -------------------------------------------------------


def get(client, path: str, status: int) -> str:
    response = client.get(path)
    assert response.status_code == status, f"GET {path}: {response.status_code}"
    assert response.mimetype == "text/html", f"GET {path}: {response.mimetype}"
    return response.get_data(as_text=True)


def post_empty(client, page: str, action: str) -> str:
    """Press a form's button on `page` with nothing typed: the page comes back with errors."""
    fields = form_posting_to(client.get(page).get_data(as_text=True), action)
    response = client.post(action, data=fields)
    assert response.status_code == 422, f"POST {action} from {page}: {response.status_code}"
    return response.get_data(as_text=True)


def render_all(app) -> dict[str, tuple[str, str]]:
    """name -> (path, html) for every page."""
    site = seed_site(app)
    rendered: dict[str, tuple[str, str]] = {}
    public = app.test_client()
    for name, path, status in public_pages(site) + spanish_pages():
        rendered[name] = (path, get(public, path, status))
    # (site.articles has each language's; the Spanish article's forms post to /es/schedule)
    article = next(path for path in site.articles if not path.startswith("/es/"))
    spanish = next(path for path in site.articles if path.startswith("/es/"))
    rendered["schedule with errors"] = ("/schedule", post_empty(public, "/schedule", "/schedule"))
    rendered["guide with errors"] = ("/guide", post_empty(public, "/guide", "/guide"))
    rendered["article with errors"] = (article, post_empty(public, article, "/schedule"))
    rendered["spanish article with errors"] = (
        spanish,
        post_empty(public, spanish, "/es/schedule"),
    )
    for name in ("schedule", "guide"):
        path = f"/es/{name}"
        rendered[f"es {name} with errors"] = (path, post_empty(public, path, path))
    done = public.post(site.unsubscribe)
    assert done.status_code == 200
    rendered["unsubscribe done"] = (site.unsubscribe, done.get_data(as_text=True))

    anonymous = app.test_client()
    rendered["staff login"] = ("/staff/login", get(anonymous, "/staff/login", 200))
    fields = form_posting_to(rendered["staff login"][1], "")
    failed = anonymous.post(
        "/staff/login", data={**fields, "email": "admin@clinic.example", "password": "wrong"}
    )
    assert failed.status_code == 401
    rendered["staff login failed"] = ("/staff/login", failed.get_data(as_text=True))

    staff = signed_in(app, "audit-admin@clinic.example", "admin")
    for name, path, status in staff_pages(site):
        rendered[name] = (path, get(staff, path, status))
    return rendered


# -- The checker --------------------------------------------------------------------------


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} in CI: .ci/run should have installed it")
    pytest.skip(reason)


def vnu_command() -> list[str]:
    jar = Path(os.environ.get("VNU_JAR") or DEFAULT_VNU_JAR)
    if not jar.is_file():
        missing(f"no Nu HTML Checker at {jar}: {VNU_INSTALL} (or set VNU_JAR)")
    java = shutil.which("java")
    if java is None:
        missing("no java to run the Nu HTML Checker: apt-get install default-jre-headless")
    return [java, "-jar", str(jar), "--errors-only", "--format", "json", "--stdout"]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def test_every_page_is_valid_html(app, tmp_path):
    command = vnu_command()
    rendered = render_all(app)
    pages = tmp_path / "pages"
    pages.mkdir()
    names: dict[str, str] = {}
    for name, (_, html) in rendered.items():
        file = pages / f"{slug(name)}.html"
        file.write_text(html, encoding="utf-8")
        names[file.name] = name

    result = subprocess.run(
        [*command, *sorted(str(p) for p in pages.iterdir())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        messages = json.loads(result.stdout)["messages"]
    except (ValueError, KeyError):
        pytest.fail(f"vnu.jar exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    problems = [m for m in messages if m.get("type") in {"error", "non-document-error"}]
    # One entry per distinct message, with every page and line it is on.
    grouped: dict[str, list[str]] = {}
    extracts: dict[str, str] = {}
    for m in problems:
        file = m.get("url", "").rsplit("/", 1)[-1]
        name = names.get(file, file)
        path = rendered[name][0] if name in rendered else ""
        text = str(m.get("message"))
        grouped.setdefault(text, []).append(f"{file} = {name} ({path}) line {m.get('lastLine')}")
        extracts.setdefault(text, " ".join(str(m.get("extract", "")).split()))
    report = [
        f"{text}\n    e.g. {extracts[text]!r}\n" + "\n".join(f"    {w}" for w in where)
        for text, where in grouped.items()
    ]
    count = len(problems)
    assert count == 0, f"{count} HTML error(s):\n" + "\n".join(report)


def test_the_page_lists_cover_every_staff_page(app):
    """A new staff GET page must join the lists above (CSV and Excel downloads are not HTML)."""
    from spine_site.staff.access import ACCESS

    listed = {path.split("?")[0] for _, path, _ in staff_pages(_placeholder_site())}
    routes = {
        rule.endpoint: rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint in ACCESS and "GET" in (rule.methods or set())
    }
    missing = [
        endpoint
        for endpoint, rule in routes.items()
        if not rule.endswith((".csv", ".xlsx")) and not any(_matches(rule, path) for path in listed)
    ]
    assert missing == []


def _placeholder_site() -> Site:
    return Site(**{name: 1 for name in Site.__dataclass_fields__})


def _matches(rule: str, path: str) -> bool:
    pattern = "^" + re.sub(r"<[^>]+>", "[^/]+", rule) + "$"
    return re.match(pattern, path) is not None
