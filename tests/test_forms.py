"""A patient filling in the two forms: validation, kept input, one lead per submit, spam."""

from __future__ import annotations

import html as htmllib
import time

import pytest
from sqlalchemy import func, select

from spine_site import tokens
from spine_site.extensions import db
from spine_site.leads import intake
from spine_site.models import EmailKind, FormKind, Lead, OutboxEmail, Person
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to

ARTICLE = "/articles/what-is-a-physiatrist"


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def leads(app) -> list[Lead]:
    with app.app_context():
        rows = db.session.scalars(select(Lead).order_by(Lead.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def open_form(client, page: str, action: str) -> dict[str, str]:
    return form_posting_to(client.get(page).get_data(as_text=True), action)


def submit_schedule(client, page="/schedule", **changes):
    fields = open_form(client, page, "/schedule")
    return client.post("/schedule", data=fill(fields, "appt", {**SCHEDULE, **changes}))


def submit_guide(client, page="/guide", **changes):
    fields = open_form(client, page, "/guide")
    return client.post("/guide", data=fill(fields, "guide", {**GUIDE, **changes}))


# -- The happy paths ---------------------------------------------------------------------


def test_appointment_request_is_stored_and_redirects_to_thanks(client, app):
    response = submit_schedule(client)
    assert response.status_code == 303
    # The thank-you page words how and when we will reach them from the two codes picked.
    assert response.headers["Location"] == "/schedule/thanks?contact=phone&time=morning"
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "we have your request" in thanks
    (lead,) = leads(app)
    assert lead.form is FormKind.APPOINTMENT
    assert (lead.first_name, lead.last_name) == ("Ada", "Lovelace")
    assert lead.email == "Ada.Lovelace@example.com"  # domain normalised by email-validator
    assert lead.phone == "+13128675309"
    assert (lead.contact_method, lead.best_time, lead.reason) == ("phone", "morning", "sciatica")
    assert lead.message == "Pain down my left leg for six weeks."
    assert not lead.is_spam
    assert lead.consent_contact and lead.consent_version == app.config["CONSENT_VERSION"]
    assert lead.consent_at is not None
    with app.app_context():
        kinds = sorted(e.kind for e in db.session.scalars(select(OutboxEmail)))
    assert kinds == [EmailKind.APPOINTMENT_CONFIRMATION, EmailKind.STAFF_NOTIFICATION]


def test_guide_request_is_stored_with_opt_in_off_by_default(client, app):
    html = client.get("/guide").get_data(as_text=True)
    assert (
        'name="guide-opt_in"' in html and "checked" not in html.split('name="guide-opt_in"')[1][:40]
    )
    response = submit_guide(client)
    assert response.headers["Location"] == "/guide/thanks"
    (lead,) = leads(app)
    assert lead.form is FormKind.GUIDE and lead.first_name == "Grace"
    assert lead.marketing_opt_in is False and lead.marketing_consent_version is None
    with app.app_context():
        (email,) = db.session.scalars(select(OutboxEmail)).all()
        assert email.kind is EmailKind.GUIDE and email.to_addr == "grace@example.org"


def test_guide_opt_in_records_the_wording_version(client, app):
    submit_guide(client, opt_in="y")
    (lead,) = leads(app)
    assert lead.marketing_opt_in is True
    assert lead.marketing_consent_version == app.config["MARKETING_CONSENT_VERSION"]


def test_same_email_links_submissions_to_one_person(client, app):
    submit_guide(client, email="Ada.Lovelace@example.com")
    submit_schedule(client, email="ada.lovelace@EXAMPLE.com")
    submit_schedule(client, email="someone.else@example.com")
    rows = leads(app)
    assert len(rows) == 3
    assert rows[0].person_id == rows[1].person_id != rows[2].person_id
    assert count(app, Person) == 2


# -- Validation: errors in place, input kept, nothing stored ------------------------------


def test_missing_required_fields_show_inline_errors_and_a_summary(client, app):
    response = submit_schedule(client, first_name="", phone="", consent="")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html and "Please fix 3 things below" in html
    assert '<a href="#appt-first_name">Enter your first name.</a>' in html
    assert 'id="appt-phone-error"' in html and 'aria-describedby="appt-phone-error"' in html
    assert 'aria-invalid="true"' in html
    assert "Tick this box" in html
    # What was typed is still there.
    assert 'value="Lovelace"' in html and 'value="Ada.Lovelace@example.com"' in html
    assert "Pain down my left leg for six weeks." in html
    assert '<option selected value="sciatica">' in html
    assert "<title>Error: Schedule an appointment" in html
    assert count(app, Lead) == 0 and count(app, OutboxEmail) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "name@example.com"),
        ("email", "ada@@example.com", "name@example.com"),
        ("phone", "12", "phone number we can call"),
        ("phone", "(555) 010-0199", "phone number we can call"),
        ("first_name", "Ada\r\nBcc: victim@example.com", "line breaks or hidden characters"),
        ("last_name", "Love\x00lace", "line breaks or hidden characters"),
        ("first_name", "A" * 101, "Field cannot be longer than 100 characters"),
        ("message", "x" * 2001, "cannot be longer than 2000"),
        ("message", "bell\x07", "hidden control characters"),
        ("reason", "not-a-reason", "Not a valid choice"),
    ],
)
def test_bad_values_are_refused_in_plain_words(client, app, field, value, message):
    response = submit_schedule(client, **{field: value})
    assert response.status_code == 422
    assert message in htmllib.unescape(response.get_data(as_text=True))
    assert count(app, Lead) == 0


def test_message_keeps_line_breaks_and_counts_each_as_one_character(client, app):
    submit_schedule(client, message="First line.\r\nSecond line.")
    (lead,) = leads(app)
    assert lead.message == "First line.\nSecond line."


def test_deliverability_check_is_off_unless_configured(client, app):
    assert app.config["EMAIL_CHECK_DELIVERABILITY"] is False
    # No DNS lookup happens (this machine has no resolver for it): the address is accepted
    # on its syntax alone, so a slow or absent resolver never blocks a patient.
    submit_schedule(client, email="patient@unregistered-domain-for-tests.com")
    assert [lead.email for lead in leads(app)] == ["patient@unregistered-domain-for-tests.com"]


# -- One lead per submit ----------------------------------------------------------------


def test_double_submit_makes_one_lead_and_one_set_of_emails(client, app):
    fields = open_form(client, "/schedule", "/schedule")
    data = fill(fields, "appt", SCHEDULE)
    first = client.post("/schedule", data=data)
    second = client.post("/schedule", data=data)
    assert first.status_code == second.status_code == 303
    assert count(app, Lead) == 1
    assert count(app, OutboxEmail) == 2


def test_each_rendered_form_gets_its_own_token(client, app):
    submit_schedule(client)
    submit_schedule(client)
    assert count(app, Lead) == 2


# -- CSRF and form tokens ---------------------------------------------------------------


def test_expired_form_token_keeps_input_and_asks_again(client, app, monkeypatch):
    fields = open_form(client, "/schedule", "/schedule")
    data = fill(fields, "appt", SCHEDULE)
    # The page was opened longer ago than FORM_TOKEN_MAX_AGE.
    opened_at = time.time() - app.config["FORM_TOKEN_MAX_AGE"] - 5
    with app.test_request_context(), monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: opened_at)
        data["appt-form_token"] = tokens.new_form_token()
    response = client.post("/schedule", data=data)
    assert response.status_code == 400
    html = htmllib.unescape(response.get_data(as_text=True))
    assert "timed out" in html and "press the button again" in html
    assert 'value="Lovelace"' in html and "Pain down my left leg" in html
    assert count(app, Lead) == 0
    # The page it sent back carries a fresh token: submitting it again works.
    again = form_posting_to(response.get_data(as_text=True), "/schedule")
    assert again["appt-form_token"] != data["appt-form_token"]
    assert client.post("/schedule", data=again).status_code == 303
    assert count(app, Lead) == 1


def test_forms_work_without_any_cookie(app):
    first = app.test_client()
    fields = open_form(first, "/guide", "/guide")
    # A browser that refuses cookies: nothing the form needs lives in one.
    stranger = app.test_client(use_cookies=False)
    response = stranger.post("/guide", data=fill(fields, "guide", GUIDE))
    assert response.status_code == 303
    assert count(app, Lead) == 1


def test_reading_an_article_sets_no_session_cookie(client):
    response = client.get(ARTICLE)
    cookies = response.headers.getlist("Set-Cookie")
    assert [c.split("=")[0] for c in cookies] == ["spine_visit"]
    assert "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    assert "Expires" not in cookies[0]  # gone when the browser closes
    # Once set, later pages do not set it again.
    assert client.get("/").headers.getlist("Set-Cookie") == []
    # The page is the same for everyone, so caches need not keep a copy per cookie.
    assert "Cookie" not in response.headers.get("Vary", "")


def test_long_foreign_campaign_tags_keep_the_visit_cookie_small(client, app):
    long = "文字" * 400  # 3 bytes each in UTF-8, 9 once URL-encoded
    query = "&".join(f"utm_{k}={long}" for k in intake.UTM_KEYS)
    response = client.get(
        f"{ARTICLE}?{query}&pad={long}", headers={"Referer": f"https://ref.example/{long}"}
    )
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert len(cookie) < 4000  # what every browser keeps
    submit_guide(client)
    (lead,) = leads(app)
    assert lead.utm_source and set(lead.utm_source) == {"文", "字"}
    assert lead.landing_page.startswith(ARTICLE) and lead.referrer.startswith("https://ref.")


def test_a_forged_visit_cookie_is_read_with_the_same_limits(client, app):
    referrer = "https%3A%2F%2Fref.example%2F" + "r" * 3000
    client.set_cookie("spine_visit", "l=%00%2Fx%E2%80%AE&r=" + referrer + "&u_source=a&zz=1")
    submit_guide(client)
    (lead,) = leads(app)
    assert lead.landing_page == "/x" and len(lead.referrer) == 300
    assert lead.referrer.startswith("https://ref.example/rrr")
    assert lead.utm_source == "a"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site too
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_post_from_another_website_is_not_stored(client, app, headers):
    fields = open_form(client, ARTICLE, "/schedule")
    response = client.post("/schedule", data=fill(fields, "appt", SCHEDULE), headers=headers)
    assert response.status_code == 403
    html = htmllib.unescape(response.get_data(as_text=True))
    assert "sent from another website" in html
    assert 'value="Lovelace"' in html and "Pain down my left leg" in html
    assert count(app, Lead) == 0
    # Pressing the button on our own page sends it.
    again = form_posting_to(response.get_data(as_text=True), "/schedule")
    own = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    assert client.post("/schedule", data=again, headers=own).status_code == 303
    assert count(app, Lead) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked: the user's own doing
        {"Origin": "http://localhost"},  # a browser older than Fetch Metadata
        {"Origin": "https://localhost"},  # behind a proxy that ends TLS: the host decides
        {},  # no browser at all (curl): nothing for another site to ride on
    ],
)
def test_a_post_from_our_own_pages_is_stored(client, app, headers):
    fields = open_form(client, ARTICLE, "/guide")
    response = client.post("/guide", data=fill(fields, "guide", GUIDE), headers=headers)
    assert response.status_code == 303
    assert count(app, Lead) == 1


def test_tampered_form_token_is_asked_again_not_stored(client, app):
    fields = open_form(client, "/guide", "/guide")
    fields["guide-form_token"] = fields["guide-form_token"][:-2] + "xx"
    response = client.post("/guide", data=fill(fields, "guide", GUIDE))
    assert response.status_code == 400
    assert count(app, Lead) == 0


# -- Spam: quarantined, never emailed, same thank-you ------------------------------------


def test_honeypot_submission_is_quarantined_silently(client, app):
    response = submit_schedule(client, website="http://spam.example")
    assert response.status_code == 303
    assert response.headers["Location"] == "/schedule/thanks?contact=phone&time=morning"
    (lead,) = leads(app)
    assert lead.is_spam and lead.spam_reason == "honeypot"
    assert count(app, OutboxEmail) == 0


def test_too_fast_submission_is_quarantined(app_factory):
    app = app_factory(FORM_MIN_FILL_SECONDS=60)
    client = app.test_client()
    response = submit_guide(client)
    assert response.headers["Location"] == "/guide/thanks"
    (lead,) = leads(app)
    assert lead.is_spam and lead.spam_reason == "too_fast"
    assert count(app, OutboxEmail) == 0


def test_a_patient_who_takes_their_time_is_not_spam(app_factory):
    app = app_factory(FORM_MIN_FILL_SECONDS=1)
    client = app.test_client()
    fields = open_form(client, "/guide", "/guide")
    time.sleep(1.1)
    client.post("/guide", data=fill(fields, "guide", GUIDE))
    (lead,) = leads(app)
    assert not lead.is_spam


def test_rate_limit_answers_429_with_the_input_kept(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_FORMS="2 per minute")
    client = app.test_client()
    for _ in range(2):
        assert submit_guide(client).status_code == 303
    response = submit_guide(client, first_name="Third")
    assert response.status_code == 429
    html = htmllib.unescape(response.get_data(as_text=True))
    assert "several requests from your connection" in html
    assert 'value="Third"' in html and 'value="grace@example.org"' in html
    # It says when to try again: within the minute window, never "now".
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert count(app, Lead) == 2
    # Reading pages is never limited.
    assert client.get("/guide").status_code == 200


# -- Oversize bodies -------------------------------------------------------------------


def test_oversize_body_gets_a_413_page(client, app):
    fields = open_form(client, "/schedule", "/schedule")
    data = fill(fields, "appt", {**SCHEDULE, "message": "x" * 40_000})
    response = client.post("/schedule", data=data)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    assert count(app, Lead) == 0


def test_garbage_post_is_a_clear_4xx(client, app):
    response = client.post("/schedule", data=b"\xff\xfe\x00garbage", content_type="text/plain")
    assert 400 <= response.status_code < 500
    assert count(app, Lead) == 0


# -- Forms embedded in articles, and attribution ----------------------------------------


def test_embedded_form_errors_re_render_the_article(client, app):
    fields = open_form(client, ARTICLE, "/schedule")
    assert fields["appt-placement"] == "embedded" and fields["appt-source_page"] == ARTICLE
    response = client.post("/schedule", data=fill(fields, "appt", {**SCHEDULE, "email": "nope"}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<h1>What Is a Physiatrist?</h1>" in html
    assert 'class="error-summary"' in html and 'value="Lovelace"' in html
    # The other form on the page is fresh and shows no errors.
    guide = form_posting_to(html, "/guide")
    assert guide["guide-first_name"] == "" and html.count('class="error-summary"') == 1


def test_attribution_records_landing_page_campaign_referrer_and_placement(client, app):
    client.get(
        f"{ARTICLE}?utm_source=newsletter&utm_medium=email&utm_campaign=fall",
        headers={"Referer": "https://search.example/?q=physiatrist"},
    )
    client.get("/")  # wandering around does not overwrite where the visit began
    fields = open_form(client, ARTICLE, "/guide")
    client.post("/guide", data=fill(fields, "guide", GUIDE))
    (lead,) = leads(app)
    assert (
        lead.landing_page == f"{ARTICLE}?utm_source=newsletter&utm_medium=email&utm_campaign=fall"
    )
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("newsletter", "email", "fall")
    assert lead.referrer == "https://search.example/?q=physiatrist"
    assert (lead.source_page, lead.placement) == (ARTICLE, "embedded")


def test_standalone_page_is_recorded_as_page_placement(client, app):
    submit_schedule(client)
    (lead,) = leads(app)
    assert (lead.source_page, lead.placement) == ("/schedule", "page")
    assert lead.landing_page == "/schedule" and lead.referrer is None


def test_forged_source_page_falls_back_to_the_form_page(client, app):
    fields = open_form(client, "/guide", "/guide")
    fields["guide-source_page"] = "//evil.example/phish"
    fields["guide-placement"] = "banner<script>"
    client.post("/guide", data=fill(fields, "guide", GUIDE))
    (lead,) = leads(app)
    assert (lead.source_page, lead.placement) == ("/guide", "page")


def test_too_many_multipart_parts_get_a_413_page(client, app):
    # (A url-encoded body is bounded by MAX_CONTENT_LENGTH alone.)
    fields = open_form(client, "/guide", "/guide")
    data = fill(fields, "guide", GUIDE)
    data.update({f"extra{i}": "x" for i in range(150)})
    response = client.post("/guide", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert count(app, Lead) == 0


def test_json_object_body_is_a_clear_4xx_not_a_crash(client, app):
    response = client.post("/schedule", json={"appt-first_name": "Ada"})
    assert response.status_code == 400
    assert "timed out" in response.get_data(as_text=True)
    assert count(app, Lead) == 0


def test_unexpected_error_shows_a_plain_500_page(app, monkeypatch):

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(intake, "capture", boom)
    client = app.test_client()
    fields = open_form(client, "/guide", "/guide")
    response = client.post("/guide", data=fill(fields, "guide", GUIDE))
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side" in html and "database on fire" not in html


def test_a_line_break_counts_once_towards_the_message_limit(client, app):
    message = "\r\n".join(["x" * 30] * 64)  # 1,920 letters and 63 line breaks
    assert len(message.replace("\r\n", "\n")) <= 2000 < len(message)
    assert submit_schedule(client, message=message).status_code == 303


@pytest.mark.parametrize("bad", ["\u202eevil", "A\u200bda", "Ada\u2028Bcc", "\ufeffAda", "Ada\x00"])
def test_invisible_and_direction_characters_are_refused_in_names(client, app, bad):
    response = submit_schedule(client, first_name=bad)
    assert response.status_code == 422
    assert count(app, Lead) == 0


def test_joiners_that_some_scripts_need_are_allowed(client, app):
    name = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # Persian, with a ZWNJ
    assert submit_schedule(client, first_name=name).status_code == 303
    assert leads(app)[0].first_name == name


def test_international_domain_is_stored_in_its_deliverable_form(client, app):
    submit_guide(client, email="ann@b\u00fccher.example")
    assert leads(app)[0].email == "ann@xn--bcher-kva.example"


def test_accented_local_part_is_refused_in_plain_words(client, app):
    response = submit_guide(client, email="j\u00f6rg@example.com")
    assert response.status_code == 422
    assert "accented letters before the @" in htmllib.unescape(response.get_data(as_text=True))


def test_corrected_resubmission_of_the_same_form_is_a_new_lead(client, app):
    fields = open_form(client, "/schedule", "/schedule")
    client.post("/schedule", data=fill(fields, "appt", SCHEDULE))
    corrected = {**SCHEDULE, "phone": "(217) 555-0177"}
    client.post("/schedule", data=fill(fields, "appt", corrected))
    client.post("/schedule", data=fill(fields, "appt", corrected))
    assert [lead.phone for lead in leads(app)] == ["+13128675309", "+12175550177"]


def test_only_an_expired_token_lifts_the_fill_time_check_when_sent_again(app_factory, monkeypatch):
    app = app_factory(FORM_MIN_FILL_SECONDS=60)
    client = app.test_client()
    with app.test_request_context(), monkeypatch.context() as patch:
        opened = time.time() - app.config["FORM_TOKEN_MAX_AGE"] - 5
        patch.setattr(time, "time", lambda: opened)
        expired = tokens.new_form_token()
    cases = [
        ({"Sec-Fetch-Site": "cross-site"}, None, 403),  # its good token keeps its time
        ({}, "forged-or-missing", 400),  # what a bot would send to shed the check
        ({}, expired, 400),  # a patient who left the page open for days
    ]
    for headers, token, status in cases:
        fields = open_form(client, "/schedule", "/schedule")
        data = fill(fields, "appt", SCHEDULE)
        if token:
            data["appt-form_token"] = token
        again = client.post("/schedule", data=data, headers=headers)
        assert again.status_code == status
        # Pressing the button again at once is what a person does here.
        resent = form_posting_to(again.get_data(as_text=True), "/schedule")
        assert client.post("/schedule", data=resent).status_code == 303
    # Sent again within the minimum fill time: "too fast" (quarantined) unless the token
    # had merely expired, which says a person has been at the page all along.
    assert [row.is_spam for row in leads(app)] == [True, True, False]


@pytest.mark.parametrize(
    "body", ["[1]", '"text"', '{"appt-first_name": 5, "appt-phone": 12}', "null"]
)
def test_json_bodies_never_crash(client, app, body):
    response = client.post("/schedule", data=body, content_type="application/json")
    assert response.status_code == 400
    assert count(app, Lead) == 0


def test_hidden_characters_in_campaign_tags_and_hidden_fields_are_dropped(client, app):
    client.get(f"{ARTICLE}?utm_source=news%00letter&utm_campaign=%E2%80%AEfall")
    fields = open_form(client, ARTICLE, "/guide")
    fields["guide-source_page"] = ARTICLE + "\x00"
    client.post("/guide", data=fill(fields, "guide", GUIDE))
    (lead,) = leads(app)
    assert (lead.utm_source, lead.utm_campaign) == ("newsletter", "fall")
    assert lead.source_page == ARTICLE


def test_long_non_latin_campaign_tags_keep_the_cookie_small(client, app):
    value = "\u4e2d" * 300
    query = "&".join(
        f"utm_{k}={value}" for k in ("source", "medium", "campaign", "term", "content")
    )
    response = client.get(f"/schedule?{query}")
    assert len(response.headers["Set-Cookie"]) < 3000
    fields = form_posting_to(response.get_data(as_text=True), "/schedule")
    assert client.post("/schedule", data=fill(fields, "appt", SCHEDULE)).status_code == 303
    assert len(leads(app)[0].utm_source) <= 100


def test_fields_without_errors_carry_no_empty_aria_describedby(client):
    html = client.get("/schedule").get_data(as_text=True)
    assert 'aria-describedby="None"' not in html
    assert 'aria-describedby="appt-message-hint"' in html


def test_database_outage_is_a_503_that_keeps_the_input(app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("connection refused"))

    monkeypatch.setattr(intake, "capture", down)
    client = app.test_client()
    fields = open_form(client, "/schedule", "/schedule")
    response = client.post("/schedule", data=fill(fields, "appt", SCHEDULE))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    html = htmllib.unescape(response.get_data(as_text=True))
    assert "couldn't save your request just now" in html and 'value="Lovelace"' in html
    monkeypatch.undo()
    # Once the database answers again, the same page submits.
    again = form_posting_to(response.get_data(as_text=True), "/schedule")
    assert client.post("/schedule", data=again).status_code == 303


def test_a_form_token_with_foreign_characters_is_asked_again_not_a_crash(client, app):
    fields = open_form(client, "/schedule", "/schedule")
    data = fill(fields, "appt", SCHEDULE)
    data["appt-form_token"] = "abc.\u00e9.0.sig\u00e9"
    response = client.post("/schedule", data=data)
    assert response.status_code == 400 and "timed out" in response.get_data(as_text=True)
    assert count(app, Lead) == 0


@pytest.mark.parametrize("path", ["/manifest.webmanifest", "/robots.txt", "/sitemap.xml"])
def test_only_pages_a_reader_lands_on_set_the_visit_cookie(client, path):
    assert client.get(path).headers.getlist("Set-Cookie") == []


def test_an_emailed_link_is_never_taken_for_the_landing_page(client, app):
    with app.test_request_context():
        link = f"/unsubscribe/{tokens.unsubscribe_token(1)}"
    assert client.get(link).headers.getlist("Set-Cookie") == []
    submit_guide(client, page=ARTICLE)
    (lead,) = leads(app)
    assert lead.landing_page == ARTICLE


def test_the_site_url_host_is_our_origin_behind_a_proxy(app_factory):
    app = app_factory(SITE_URL="https://clinic.example")
    client = app.test_client()
    fields = open_form(client, "/guide", "/guide")
    # nginx passed on its own Host; the browser's Origin is the public one.
    response = client.post(
        "/guide",
        data=fill(fields, "guide", GUIDE),
        headers={"Origin": "https://clinic.example", "Host": "127.0.0.1:8000"},
    )
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/schedule", "/guide"])
def test_a_head_request_to_a_form_page_changes_nothing(client, app, path):
    response = client.head(path)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
