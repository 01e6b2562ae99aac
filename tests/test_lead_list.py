"""The staff lead list: newest first, filters, search, pages, and what each role sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from spine_site.extensions import db
from spine_site.leads import lead_list
from spine_site.models import Lead, LeadStatus
from tests.factories import make_lead, make_user
from tests.support import login


def test_list_is_newest_first_with_counts_and_new_highlighted(app, staff_client):
    older = make_lead(app, email="patient1@example.com", first_name="Older", days_ago=2)
    newer = make_lead(app, email="patient2@example.com", first_name="Newer")
    html = staff_client.get("/staff/?view=all").get_data(as_text=True)
    assert html.index("Newer") < html.index("Older")
    assert f'href="/staff/leads/{newer}"' in html and f'href="/staff/leads/{older}"' in html
    assert 'class="is-new"' in html
    assert 'New <span class="count">2</span>' in html
    assert "Sciatica" in html  # intake staff see the reason


def test_filters_by_form_status_date_and_spam(app, staff_client):
    guide = make_lead(app, "guide", email="patient1@example.com", first_name="Guidey")
    appt = make_lead(app, email="patient2@example.com", first_name="Appty", days_ago=10)
    spam = make_lead(app, email="patient3@example.com", first_name="Spammy", spam=True)
    with app.app_context():
        db.session.get(Lead, appt).status = LeadStatus.CONTACTED
        db.session.commit()

    def names(query: str) -> set[str]:
        page = staff_client.get("/staff/?view=all&" + query).get_data(as_text=True)
        return {n for n in ("Guidey", "Appty", "Spammy") if f">{n} " in page or f">{n}<" in page}

    assert names("") == {"Guidey", "Appty"}
    assert names("form=guide") == {"Guidey"}
    assert names("status=contacted") == {"Appty"}
    today = datetime.now(UTC).date()
    assert names(f"date_from={(today - timedelta(days=3)).isoformat()}") == {"Guidey"}
    assert names(f"date_to={(today - timedelta(days=5)).isoformat()}") == {"Appty"}
    assert names("spam=only") == {"Spammy"}
    assert names("spam=include") == {"Guidey", "Appty", "Spammy"}
    assert names("status=bogus&form=nope&date_from=yesterday") == {"Guidey", "Appty"}
    assert guide and spam


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", 2),
        ("patient1@", 1),
        ("867-5309", 2),
        ("3128675309", 2),
        ("Ada patient2", 1),
        ("nobody", 0),
        ("%", 0),
        ("_", 0),
    ],
)
def test_search_by_name_email_and_phone(app, staff_client, query, expected):
    make_lead(app, email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    make_lead(app, "guide", email="patient3@example.com", first_name="Grace")
    with app.app_context():
        f = lead_list.LeadFilter(q=query)
        assert lead_list.list_leads(f, 1, 50).total == expected
    assert staff_client.get("/staff/", query_string={"q": query}).status_code == 200


def test_phone_search_accepts_any_common_format(app):
    make_lead(app, email="patient1@example.com")
    with app.app_context():
        for q in ("+1 312 867 5309", "(312) 867-5309", "312.867.5309", "8675309"):
            assert lead_list.list_leads(lead_list.LeadFilter(q=q), 1, 50).total == 1, q


def test_pagination(app_factory):
    app = app_factory(STAFF_PAGE_SIZE=2)
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    login(client, "intake@clinic.example")
    ids = [make_lead(app, email=f"patient{i}@example.com") for i in range(5)]
    page1 = client.get("/staff/?view=all").get_data(as_text=True)
    page3 = client.get("/staff/?view=all&page=3").get_data(as_text=True)
    assert "Page 1 of 3" in page1 and f"/staff/leads/{ids[4]}" in page1
    assert f"/staff/leads/{ids[0]}" in page3 and f"/staff/leads/{ids[4]}" not in page3
    assert client.get("/staff/?view=all&page=999").status_code == 200


def test_a_search_past_the_count_limit_says_more_than_and_still_pages(app_factory, monkeypatch):
    app = app_factory(STAFF_PAGE_SIZE=2)
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    login(client, "intake@clinic.example")
    ids = [make_lead(app, email=f"patient{i}@example.com", days_ago=5 - i) for i in range(5)]
    make_lead(app, email="other@example.com", first_name="Grace", last_name="Hopper")
    # The list's limit is 1,000; three makes five Lovelaces "more than 3".
    monkeypatch.setattr(lead_list, "list_leads", partial(lead_list.list_leads, count_limit=3))

    def page(number: int) -> str:
        query = {"view": "all", "q": "lovelace", "page": number}
        return client.get("/staff/", query_string=query).get_data(as_text=True)

    first, third = page(1), page(3)
    assert "More than 3 leads match" in first and "page 1." in first
    assert "Page 1<" in first and 'rel="next"' in first and "Page 1 of" not in first
    assert 'All <span class="count">3+</span>' in first and "Export CSV (3+)" in first
    assert 'New <span class="count">' not in first  # not counted per status past the limit
    assert f"/staff/leads/{ids[4]}" in first and f"/staff/leads/{ids[3]}" in first
    assert f"/staff/leads/{ids[0]}" in third and 'rel="next"' not in third
    # Under the limit, the counts are exact as before.
    narrow = client.get("/staff/", query_string={"view": "all", "q": "patient1@"})
    assert "1 lead." in narrow.get_data(as_text=True)
    assert 'New <span class="count">1</span>' in narrow.get_data(as_text=True)


def test_marketing_sees_the_list_without_medical_details(app, marketing_client):
    lead_id = make_lead(
        app, email="patient1@example.com", reason="sciatica", message="Private symptoms here"
    )
    html = marketing_client.get("/staff/").get_data(as_text=True)
    assert "Lovelace" in html
    assert "Sciatica" not in html and "Private symptoms" not in html
    assert f'href="/staff/leads/{lead_id}"' not in html
    assert marketing_client.get(f"/staff/leads/{lead_id}").status_code == 403
