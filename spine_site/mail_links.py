"""The signed links in a new lead's emails: queued as placeholders, signed when sent.

A new lead's emails are rendered before its transaction (lead_mail), and on PostgreSQL
queued by the very statement that inserts the lead (intake): the ids their links name do
not exist while they are written. So each such link holds a placeholder token, and the
sender puts the real token in when it builds the message (outbox.build_message), from the
row's lead. The token is dated when the row was queued, as it was when it was signed before
the insert: a link's age counts from the request, however late (or often) the email goes
out, and a staff resend of the same row does not renew it. The queue in the database holds
no working link.

Placeholders are fixed strings, the same in every process (the sender may be another
process than the one that queued the email), and begin with a digit: nothing a patient
types reaches a patient email but a greeting name, which has no digits. Tokens are
URL-safe, so url_for and HTML escaping leave a real token exactly as they leave its
placeholder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import tokens

# (lead id, person id, when the link counts from: None for now) -> token
TokenMaker = Callable[[int, int, datetime | None], str]
MAKERS: dict[str, TokenMaker] = {
    "guide": lambda lead_id, person_id, issued_at: tokens.guide_token(lead_id, issued_at),
    "newsletter": lambda lead_id, person_id, at: tokens.newsletter_token(lead_id, at),
    "unsubscribe": lambda lead_id, person_id, issued_at: tokens.unsubscribe_token(person_id),
}
# (The suffix only makes the strings unlike anything else in a template or a setting.)
MARKS = {kind: f"0{kind}-link-5e0c83a1f2" for kind in MAKERS}


def holds_marks(*texts: str) -> bool:
    """Whether any of these texts still holds a placeholder."""
    return any(mark in text for text in texts for mark in MARKS.values())


def filled(texts: list[str], lead_id: int, person_id: int, issued_at: datetime) -> list[str]:
    """The texts with each placeholder replaced by its token for this lead and its person,
    dated `issued_at` (each token signed once, and only if some text holds its placeholder)."""
    for kind, mark in MARKS.items():
        if any(mark in text for text in texts):
            token = MAKERS[kind](lead_id, person_id, issued_at)
            texts = [text.replace(mark, token) for text in texts]
    return texts
