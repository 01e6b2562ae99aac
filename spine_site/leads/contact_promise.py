"""How and when the intake desk will reach a patient, in the words the confirmation email and
the thank-you page both use.

Built only from the choice codes the schedule form offers, never from text a patient typed:
an unknown value reads as no preference, so a hand-made thank-you link cannot put other words
in the clinic's mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

# Each sentence whole, so a translation can order its words as its language needs. How intake
# reaches a patient who chose this way (intake.CONTACT_METHODS codes):
_HOW = {
    "phone": _l(
        "Our intake team will call you, as you asked, usually within one business day, "
        "to find an appointment time that suits you."
    ),
    "text": _l(
        "Our intake team will send you a text message, as you asked, usually within one "
        "business day, to find an appointment time that suits you."
    ),
    "email": _l(
        "Our intake team will email you, as you asked, usually within one business day, "
        "to find an appointment time that suits you."
    ),
}
# No preference: a call, since the phone number is the one way to reach a patient that the
# schedule form always has besides email, and a call is what the desk does first.
_DEFAULT_HOW = _l(
    "Our intake team will call you, usually within one business day, to find an "
    "appointment time that suits you."
)
# When, by the times of day the form offers (intake.BEST_TIMES codes; "" for none), with the
# clinic's hours and without (an empty setting). Early evening says the desk may not reach
# that late, rather than leave the patient waiting by the phone at 6 pm.
_WHEN: dict[str, tuple[LazyString, LazyString]] = {
    "morning": (
        _l("We'll aim for the morning, within our hours (%(hours)s)."),
        _l("We'll aim for the morning, within our business hours."),
    ),
    "afternoon": (
        _l("We'll aim for the afternoon, within our hours (%(hours)s)."),
        _l("We'll aim for the afternoon, within our business hours."),
    ),
    "evening": (
        _l(
            "You asked for early evening: we can only reach you within our hours "
            "(%(hours)s), so we'll try as late in the day as we can."
        ),
        _l(
            "You asked for early evening: we can only reach you within our business hours, "
            "so we'll try as late in the day as we can."
        ),
    ),
    "": (
        _l("We'll get in touch within our hours (%(hours)s)."),
        _l("We'll get in touch within our business hours."),
    ),
}


@dataclass(frozen=True)
class ContactPromise:
    """Two sentences: how we will reach the patient, and when."""

    how: str
    when: str

    @property
    def text(self) -> str:
        return f"{self.how} {self.when}"


def contact_promise(
    contact_method: str | None, best_time: str | None, hours_text: str
) -> ContactPromise:
    """What we promise a patient who picked these codes (None or unknown: no preference), in
    the current language; `hours_text` is config.hours_text in that language."""
    how = str(_HOW.get(contact_method or "", _DEFAULT_HOW))
    return ContactPromise(how=how, when=_when(best_time, hours_text.strip()))


def _when(best_time: str | None, hours_text: str) -> str:
    with_hours, without = _WHEN.get(best_time or "", _WHEN[""])
    return str(with_hours) % {"hours": hours_text} if hours_text else str(without)
