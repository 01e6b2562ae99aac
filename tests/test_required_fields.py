"""Every required field of the two public forms, one at a time: marked with a *, refused
when left empty (or only spaces) with an error beside it and in the summary, the rest of
the input kept, and nothing stored. A field that quietly stopped being required would let
a lead in that intake cannot act on (no last name to find the patient's chart by).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from spine_site.extensions import db
from spine_site.models import Lead, OutboxEmail, Person
from tests.html_forms import GUIDE, PUBLIC_FORM_PREFIX, SCHEDULE, submit_public_form

# The spec's required fields (SPEC.md, Forms) with the words each error uses; written out
# here rather than read from the form classes, so a change there shows up as a failure.
REQUIRED = [
    ("schedule", "first_name", "Enter your first name."),
    ("schedule", "last_name", "Enter your last name."),
    ("schedule", "email", "Enter your email address."),
    ("schedule", "phone", "Enter your phone number."),
    ("schedule", "consent", "Tick this box so we can contact you about your request."),
    ("guide", "first_name", "Enter your first name."),
    ("guide", "email", "Enter your email address."),
]
TYPED = {"schedule": SCHEDULE, "guide": GUIDE}


def stored(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("form", "field", "message"), REQUIRED)
def test_a_required_field_carries_a_star(client, form, field, message):
    html = client.get(f"/{form}").get_data(as_text=True)
    field_id = f"{PUBLIC_FORM_PREFIX[form]}-{field}"
    label = re.search(rf'<label for="{field_id}">(.*?)</label>', html, flags=re.S)
    assert label is not None, field_id
    assert '<span class="req" aria-hidden="true">*</span>' in label.group(1)
    assert '<span class="req">*</span> indicates required fields' in html


# Each text field left empty and filled with spaces only; the box left unticked (not sent).
EMPTIED = [
    (*required, blank)
    for required in REQUIRED
    for blank in ((None,) if required[1] == "consent" else ("", "   "))
]


@pytest.mark.parametrize(("form", "field", "message", "blank"), EMPTIED)
def test_leaving_a_required_field_empty_stores_nothing(client, app, form, field, message, blank):
    values = {k: v for k, v in TYPED[form].items() if k != field}
    if blank is not None:
        values[field] = blank
    response = submit_public_form(client, form, values)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field_id = f"{PUBLIC_FORM_PREFIX[form]}-{field}"
    # Beside the field, and as a link to it in the summary at the top.
    beside = re.search(rf'<p class="field-error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert beside is not None and re.sub("<[^>]+>", "", beside.group(1)) == f"Error: {message}"
    assert f'aria-describedby="{field_id}-error"' in html
    assert f'<a href="#{field_id}">{message}</a>' in html
    assert "Please fix 1 thing below" in html
    # The patient's other answers are still in the form.
    other = "first_name" if field != "first_name" else {"schedule": "last_name"}.get(form, "email")
    assert f'value="{values[other]}"' in html
    assert stored(app, Lead) == 0
    assert stored(app, OutboxEmail) == 0
    assert stored(app, Person) == 0
