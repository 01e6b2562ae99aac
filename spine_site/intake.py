"""Intake: what a patient may submit, and storing one submission with its emails at once.

No Flask request objects here: the public views pass plain values in.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import (
    Column,
    ColumnElement,
    Dialect,
    Executable,
    Table,
    bindparam,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.exc import IntegrityError

from . import lead_mail, metrics, outbox
from .clock import utcnow
from .database import DriverStatement
from .extensions import db
from .models import FormKind, GuideDownload, Lead, OutboxEmail, Person
from .people import normalize_email, person_id_for
from .tokens import FormToken

log = logging.getLogger(__name__)

# The reasons a patient can pick: the conditions the physiatrist article covers, plus other.
REASONS: list[tuple[str, str]] = [
    ("herniated_disc", "Herniated or bulging disc"),
    ("degenerative_disc", "Degenerative disc disease"),
    ("annular_tear", "Annular tear"),
    ("disc_back_pain", "Disc-related back pain"),
    ("radiculopathy", "Radiculopathy (radiating arm or leg pain)"),
    ("sciatica", "Sciatica"),
    ("neuropathy", "Peripheral neuropathy"),
    ("stenosis", "Spinal stenosis"),
    ("spondylolisthesis", "Spondylolisthesis"),
    ("facet", "Facet joint arthritis"),
    ("failed_surgery", "Pain after back surgery"),
    ("chronic_pain", "Long-lasting (chronic) back or neck pain"),
    ("injury", "Spine pain after an injury"),
    ("other", "Something else"),
]
UTM_KEYS = ("source", "medium", "campaign", "term", "content")
CONTACT_METHODS = [("phone", "Phone call"), ("text", "Text message"), ("email", "Email")]
BEST_TIMES = [("morning", "Morning"), ("afternoon", "Afternoon"), ("evening", "Early evening")]

# What a patient types into each form, in the order the form shows it. The forms take their
# field order from here, and the submission key (below) covers exactly these fields.
APPOINTMENT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "contact_method",
    "best_time",
    "reason",
    "message",
    "consent",
)
GUIDE_FIELDS = ("first_name", "email", "opt_in")
SUBMITTED_FIELDS = tuple(dict.fromkeys(APPOINTMENT_FIELDS + GUIDE_FIELDS))


@dataclass(frozen=True)
class Attribution:
    """Where the visit came from and where the form was; all optional."""

    utm: Mapping[str, str] = field(default_factory=dict)
    referrer: str | None = None
    landing_page: str | None = None
    source_page: str | None = None
    placement: str | None = None


@dataclass(frozen=True)
class CaptureResult:
    lead_id: int
    created: bool  # False when this was a repeat of a submission already stored

    @property
    def lead(self) -> Lead:
        """The stored lead, loaded (capture itself inserts plain rows, no ORM objects)."""
        lead = db.session.get(Lead, self.lead_id)
        assert lead is not None
        return lead


def submission_key(form_nonce: str, fields: Mapping[str, object]) -> str:
    """The form rendering's nonce plus a digest of the content.

    A double click or a browser resend repeats both, so it finds the stored lead. A patient who
    goes Back, corrects the phone number and sends the same form again gets a new key: the
    correction is a new submission, not silently dropped.
    """
    content = "\x1f".join(f"{name}={fields.get(name) or ''}" for name in SUBMITTED_FIELDS)
    return hashlib.sha256(f"{form_nonce}\x1e{content}".encode()).hexdigest()


def spam_reason(honeypot: str | None, token: FormToken, now: float | None = None) -> str | None:
    """Why a submission looks automated, or None: the honeypot, or a form filled too fast.

    A token reissued to a form sent back for resubmission is exempt from the fill time: the
    patient has been typing all along.
    """
    if honeypot:
        return "honeypot"
    now = time.time() if now is None else now
    minimum = current_app.config["FORM_MIN_FILL_SECONDS"]
    if not token.reissued and now - token.issued_at < minimum:
        return "too_fast"
    return None


def capture(
    form: FormKind,
    fields: Mapping[str, object],
    *,
    form_nonce: str,
    attribution: Attribution,
    spam_reason: str | None = None,
) -> CaptureResult:
    """Store one submission and queue its emails in a single commit.

    `fields` are already validated and normalised (email, E.164 phone). A repeat of a stored
    submission (same rendered form, same content) returns the stored lead: one lead, one set
    of emails.
    """
    key = submission_key(form_nonce, fields)
    lead = NewLead(**_lead_values(form, fields, key, attribution, spam_reason))
    spam = lead.is_spam
    # Rendered before the transaction begins: on SQLite the write lock is taken at its first
    # statement, and Jinja is most of a post's work. Its links are placeholders, signed when
    # the email is sent (mail_links), so the row can be written with the lead's.
    email = None if spam else outbox.row(lead_mail.patient_email(lead, lead_mail.Links()))
    # The intake desk's notice names the new lead's id in its text: rendered once that exists.
    notify = not spam and form is FormKind.APPOINTMENT and lead_mail.notifies_staff()
    try:
        lead_id = _store(lead, email, alone=not notify)
        if notify:
            staff = lead_mail.staff_email(lead_id)
            outbox.insert([staff] if staff is not None else [], lead_id)
        if db.session().in_transaction():  # (not after _store's autocommit: nothing to commit)
            db.session.commit()
    except IntegrityError:
        # The submission key is unique: this is a repeat of a stored submission (a double
        # click, a resend, or the same form token winning a race against us). No lookup
        # before the insert: a repeat is rare, and the unique index is the check that holds.
        db.session.rollback()
        existing = db.session.scalar(select(Lead.id).where(Lead.submission_token == key))
        if existing is None:
            raise
        return CaptureResult(existing, created=False)
    log.info("lead %s stored (%s%s)", lead_id, form.value, ", quarantined" if spam else "")
    metrics.lead_stored(form, spam=spam)
    if not spam:
        outbox.wake_sender()
    return CaptureResult(lead_id, created=True)


def _store(lead: NewLead, email: dict[str, Any] | None, *, alone: bool) -> int:
    """Insert the lead, its person if the address is new, and its patient email's row (if
    any): the lead's id. The caller commits.

    On PostgreSQL all three are one statement. `alone`, when nothing else is to be written
    with them, lets that statement run in autocommit on a connection outside the session,
    where it commits on its own: one round trip for the whole submission, where BEGIN, the
    statement and COMMIT took three, and none of the session's transaction bookkeeping. (A
    statement is atomic: it writes all three rows or none.) It runs straight on the driver
    (database.DriverStatement), past SQLAlchemy's per-execution work.
    """
    session = db.session()  # (the request's Session itself, not the scoped proxy)
    postgresql = session.get_bind().dialect.name == "postgresql"
    values = {name: getattr(lead, name) for name in _LEAD_COLUMNS}
    values.update({f"utm_{key}": lead.utm.get(key) for key in UTM_KEYS})
    if postgresql:
        both = {**values, "email_normalized": normalize_email(lead.email)}
        both["person_created_at"] = utcnow()
        if email is not None:
            both.update({f"email_{name}": value for name, value in email.items()})
        # (Keyed by the email row's columns, always the same ones: one statement per shape.)
        statement = _insert_person_and_lead_statement(tuple(email or ()))
        if alone and not session.in_transaction():
            found = _driver_statement(statement, db.engine.dialect).first_row_alone(db.engine, both)
        else:
            found = session.connection().execute(statement, both).first()
        if found is not None:
            return int(found[0])
        # No row, so nothing written: another transaction inserted this address after our
        # statement's snapshot was taken (its INSERT waited for that one, then did nothing,
        # and the SELECT beside it cannot see the row). The two-step path's SELECT is a new
        # statement, so it sees the winner's row.
    connection = session.connection()
    person_id = person_id_for(lead.email, connection)
    lead_id = connection.execute(_INSERT_LEAD, {**values, "person_id": person_id}).scalar_one()
    if email is not None:
        outbox.insert_rows([email], lead_id, connection)
    return lead_id


@dataclass(frozen=True)
class NewLead:
    """A submission's lead row before it is inserted: what its emails and INSERT are made of."""

    form: FormKind
    submission_token: str
    first_name: str
    last_name: str | None
    email: str
    phone: str | None
    contact_method: str | None
    best_time: str | None
    reason: str | None
    message: str | None
    is_spam: bool
    spam_reason: str | None
    referrer: str | None
    landing_page: str | None
    source_page: str | None
    placement: str | None
    created_at: datetime
    search_text: str
    consent_contact: bool = False
    consent_version: str | None = None
    consent_at: datetime | None = None
    marketing_opt_in: bool = False
    marketing_consent_version: str | None = None
    marketing_confirmed_at: datetime | None = None
    utm: Mapping[str, str | None] = field(default_factory=dict)


# Built once, the values passed at execution: a statement built per call costs more to make
# and to key for the compiled cache than it takes to run.
_INSERT_LEAD = insert(Lead.__table__).returning(Lead.__table__.c.id)
# The NewLead fields that are lead columns of the same name (utm is spread over five).
_LEAD_COLUMNS = tuple(name for name in NewLead.__dataclass_fields__ if name != "utm")


# (Bounded: each app has its own engine and dialect, and a test run makes hundreds of apps.)
@functools.lru_cache(maxsize=16)
def _driver_statement(statement: Executable, dialect: Dialect) -> DriverStatement:
    return DriverStatement(statement, dialect)


@functools.cache
def _insert_person_and_lead_statement(email_columns: tuple[str, ...]) -> Executable:
    # PostgreSQL: WITH p AS (INSERT INTO person ... ON CONFLICT DO NOTHING RETURNING id),
    # q AS (SELECT id FROM p UNION ALL SELECT id FROM person WHERE email_normalized = :e),
    # l AS (INSERT INTO lead (...) SELECT ..., q.id FROM q LIMIT 1 RETURNING id)
    # [, o AS (INSERT INTO outbox_email (lead_id, <email_columns>) SELECT l.id, ... FROM l)]
    # SELECT id FROM l. Columns with a Python-side default get it written in, as
    # an INSERT's execution adds it: an INSERT ... SELECT would leave them NULL.
    person, lead = Person.__table__, Lead.__table__
    new = (
        postgresql_insert(person)
        .values(
            email_normalized=bindparam("email_normalized"),
            created_at=bindparam("person_created_at", type_=person.c.created_at.type),
        )
        .on_conflict_do_nothing(index_elements=[person.c.email_normalized])
        .returning(person.c.id)
        .cte("p")
    )
    known = select(person.c.id).where(person.c.email_normalized == bindparam("email_normalized"))
    found = union_all(select(new.c.id), known).cte("q")
    columns = [lead.c[name] for name in _LEAD_COLUMNS]
    columns += [lead.c[f"utm_{key}"] for key in UTM_KEYS]
    columns, values = _with_defaults(lead, columns, {"id", "person_id"}, "")
    chosen = select(*values, found.c.id).limit(1)
    stored = (
        insert(lead)
        .from_select([*columns, lead.c.person_id], chosen, include_defaults=False)
        .returning(lead.c.id)
        .cte("l")
    )
    statement = select(stored.c.id)
    if email_columns:
        email = OutboxEmail.__table__
        given = [email.c[name] for name in email_columns]
        given, values = _with_defaults(email, given, {"id", "lead_id"}, "email_")
        queued = insert(email).from_select(
            [*given, email.c.lead_id], select(*values, stored.c.id), include_defaults=False
        )
        statement = statement.add_cte(queued.cte("o"))
    return statement


def _with_defaults(
    table: Table, columns: list[Column[Any]], skip: set[str], prefix: str
) -> tuple[list[Column[Any]], list[ColumnElement[Any]]]:
    """The columns with a bound value each (named prefix + column), then the table's other
    columns that have a scalar Python-side default (not in `skip`), with that default."""
    values: list[ColumnElement[Any]] = [
        bindparam(prefix + column.name, type_=column.type) for column in columns
    ]
    given = {column.name for column in columns} | skip
    defaulted = [c for c in table.c if c.name not in given and c.default is not None]
    for column in defaulted:
        if not column.default.is_scalar:  # (a callable one must be among the given values)
            raise TypeError(f"{table.name}.{column.name}: give its value in the statement")
        values.append(literal(column.default.arg, type_=column.type))
    return [*columns, *defaulted], values


def _lead_values(
    form: FormKind,
    fields: Mapping[str, object],
    key: str,
    attribution: Attribution,
    spam: str | None,
) -> dict[str, Any]:
    config = current_app.config
    now = utcnow()
    values: dict[str, Any] = {
        "form": form,
        "submission_token": key,
        "first_name": str(fields["first_name"]),
        "last_name": _opt(fields.get("last_name")),
        "email": str(fields["email"]),
        "phone": _opt(fields.get("phone")),
        "contact_method": _opt(fields.get("contact_method")),
        "best_time": _opt(fields.get("best_time")),
        "reason": _opt(fields.get("reason")),
        "message": _opt(fields.get("message")),
        "is_spam": spam is not None,
        "spam_reason": spam,
        "referrer": attribution.referrer,
        "landing_page": attribution.landing_page,
        "source_page": attribution.source_page,
        "placement": attribution.placement,
        "created_at": now,
        "utm": {key: attribution.utm.get(key) for key in UTM_KEYS},
    }
    values["search_text"] = search_words(
        values["first_name"], values["last_name"], values["email"], values["phone"]
    )
    if fields.get("consent"):
        values.update(
            consent_contact=True, consent_version=config["CONSENT_VERSION"], consent_at=now
        )
    if fields.get("opt_in"):
        values.update(
            marketing_opt_in=True, marketing_consent_version=config["MARKETING_CONSENT_VERSION"]
        )
    return values


def search_text(lead: Lead) -> str:
    """What the staff search looks in: names, email, phone digits, lower-cased."""
    return search_words(lead.first_name, lead.last_name, lead.email, lead.phone)


def search_words(first: str, last: str | None, email: str, phone: str | None) -> str:
    """search_text of these values."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return " ".join(p for p in (first, last, email, digits) if p).lower()


def _opt(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def record_download(lead: Lead) -> None:
    """Note one guide download on its lead."""
    db.session.add(GuideDownload(lead=lead, downloaded_at=utcnow()))
    db.session.commit()
