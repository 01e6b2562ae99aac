"""Forms as a browser sees them: read out of a page's HTML, filled in, posted back.

For tests of the forms themselves (the public ones, sign-in, the staff buttons). A test that
only needs leads to exist makes them with tests.factories instead.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "fields": {}}
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") in {"checkbox", "radio"} and "checked" not in a:
                return
            default = "y" if a.get("type") == "checkbox" else ""
            self._current["fields"][a["name"]] = a.get("value", default)
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
            self._current["fields"].setdefault(a["name"], "")
        elif tag == "option" and self._select and "selected" in a:
            self._current["fields"][self._select] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._current["fields"][a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self._current is not None:
            self._current["fields"][self._textarea] += data


def forms_in(html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_posting_to(html: str, action_prefix: str) -> dict[str, str]:
    """The current values of the form whose action starts with action_prefix."""
    for form in forms_in(html):
        if form["action"].split("#")[0] == action_prefix:
            return dict(form["fields"])
    raise AssertionError(f"no form posting to {action_prefix}")


# What a patient types into each public form (unprefixed field names).
SCHEDULE = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "Ada.Lovelace@Example.com",
    "phone": "312-867-5309",
    "contact_method": "phone",
    "best_time": "morning",
    "reason": "sciatica",
    "message": "Pain down my left leg for six weeks.",
    "consent": "y",
}
GUIDE = {"first_name": "Grace", "email": "grace@example.org"}


# The public forms by the name in their URL: the prefix of their fields on a page.
PUBLIC_FORM_PREFIX = {"schedule": "appt", "guide": "guide"}


def fill(fields: dict[str, str], prefix: str, values: dict[str, str]) -> dict[str, str]:
    """Merge typed values (unprefixed names) into a form's hidden fields."""
    data = {k: v for k, v in fields.items()}
    for name, value in values.items():
        data[f"{prefix}-{name}"] = value
    return data


def submit_public_form(
    client: FlaskClient, name: str, values: dict[str, str], page: str | None = None
) -> TestResponse:
    """Open a public form (on its own page, or on `page`) and send it with these values."""
    fields = form_posting_to(client.get(page or f"/{name}").get_data(as_text=True), f"/{name}")
    return client.post(f"/{name}", data=fill(fields, PUBLIC_FORM_PREFIX[name], values))


def post_form(client: FlaskClient, page_url: str, action: str, **data: str) -> TestResponse:
    """Press a button on a page: post its form's current values, with `data` typed in."""
    fields = form_posting_to(client.get(page_url).get_data(as_text=True), action)
    return client.post(action, data={**fields, **data})
