"""axe-core finds no accessibility violations on any page, on a phone and on a desktop.

Every public page (with and without form errors) and every staff page an admin can open,
in the real browser with the real stylesheet, so colour contrast and target sizes count.
axe comes from the axe-playwright-python package and is injected with page.evaluate, which
the site's Content-Security-Policy does not govern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT

from tests.factories import STAFF_PASSWORD, make_user, totp_code
from tests.site_pages import public_pages, seed_site, spanish_pages, staff_pages

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return results.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    helpUrl: v.helpUrl,
    targets: v.nodes.map(n => n.target.map(t => [].concat(t).join(' >>> ')).join(' ')),
  }));
}"""
ADMIN = "admin@clinic.example"
NEWCOMER = "newcomer@clinic.example"


@dataclass
class Audit:
    page: Any
    base: str
    violations: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def check(self, name: str) -> None:
        """Run axe on the page as it is now, and keep what it finds under `name`."""
        self.page.evaluate(AXE_SCRIPT)
        path = self.page.url.removeprefix(self.base)
        for violation in self.page.evaluate(RUN_AXE, TAGS):
            self.violations.append((name, path, violation))

    def go(self, path: str, status: int = 200) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == status, f"GET {path}"

    def open(self, name: str, path: str, status: int) -> None:
        self.go(path, status)
        self.check(name)

    def press(self, name: str, button: str, status: int) -> None:
        """Press a form's button (nothing typed) and check the page that comes back."""
        with self.page.expect_navigation() as navigation:
            self.page.locator(button).click()
        assert navigation.value.status == status, f"{name}: {navigation.value.status}"
        self.check(name)

    def report(self, viewport: str) -> str:
        by_rule: dict[str, list[str]] = {}
        helps: dict[str, str] = {}
        for name, path, v in self.violations:
            key = v["id"]
            helps[key] = f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>"
            by_rule.setdefault(key, []).append(
                f"    {name} ({path}): " + ", ".join(repr(t) for t in v["targets"])
            )
        lines = [f"axe violations on the {viewport} viewport:"]
        for key, where in by_rule.items():
            lines += [helps[key], *where]
        return "\n".join(lines)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_passes_axe(browser, live_server, viewport):
    site = seed_site(live_server.app, ADMIN)
    context = browser.new_context(**VIEWPORTS[viewport])
    try:
        audit = visit_every_page(context.new_page(), live_server.url, site, live_server.app)
    finally:
        context.close()
    assert audit.violations == [], audit.report(viewport)


def visit_every_page(page, base: str, site, app) -> Audit:
    audit = Audit(page, base)
    for name, path, status in public_pages(site) + spanish_pages():
        audit.open(name, path, status)
    # The same pages again, each form sent with nothing typed.
    audit.go("/schedule")
    audit.press("schedule with errors", "main form.lead-form button[type=submit]", 422)
    audit.go("/guide")
    audit.press("guide with errors", "main form.lead-form button[type=submit]", 422)
    audit.go(site.articles[0])
    audit.press("article with errors", "#schedule form button[type=submit]", 422)
    audit.go("/es/schedule")
    audit.press("es schedule with errors", "main form.lead-form button[type=submit]", 422)
    audit.go("/es/guide")
    audit.press("es guide with errors", "main form.lead-form button[type=submit]", 422)
    audit.go(site.unsubscribe)
    audit.press("unsubscribe done", "main form button[type=submit]", 200)

    audit.open("staff login", "/staff/login", 200)
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    audit.press("staff login failed", "main form button[type=submit]", 401)
    # A new account without a second factor is sent to set one up.
    make_user(app, NEWCOMER, "staff", totp=False)
    page.get_by_label("Email").fill(NEWCOMER)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    audit.press("staff enrolment", "main form button[type=submit]", 200)
    assert page.url.endswith("/staff/login/enrol")
    audit.go("/staff/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    audit.press("staff second step", "main form button[type=submit]", 200)
    page.get_by_label("Code").fill("000000")
    audit.press("staff second step, wrong code", "main form.lead-form button[type=submit]", 401)
    page.get_by_label("Code").fill(totp_code(app, ADMIN))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/staff/$"))
    for name, path, status in staff_pages(site):
        audit.open(name, path, status)
    # Let the icon and stylesheet requests finish before the server stops.
    page.wait_for_load_state("networkidle")
    return audit
