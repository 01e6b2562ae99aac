"""How and when the intake desk will reach a patient, in the words the confirmation email and
the thank-you page both use.

Built only from the choice codes the schedule form offers (intake.CONTACT_METHODS and
BEST_TIMES), never from text a patient typed: a value this module does not know reads as
no preference, so neither a stored value nor a hand-made thank-you link can put other words
in the clinic's mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

# How intake reaches a patient who chose this way (intake.CONTACT_METHODS codes).
_REACH = {
    "phone": "call you",
    "text": "send you a text message",
    "email": "email you",
}
# No preference: a call, since the phone number is the one way to reach a patient that the
# schedule form always has besides email, and a call is what the desk does first.
_DEFAULT_REACH = "call you"
# The times of day the form offers (intake.BEST_TIMES codes) that fall inside usual hours.
_DAYTIME = ("morning", "afternoon")


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
    """What we promise a patient who picked these codes (None or unknown: no preference).

    `hours_text` is the clinic's hours as people read them (CLINIC_HOURS_TEXT), e.g.
    "Monday to Friday, 8 am to 5 pm": intake only calls, texts and emails within them.
    """
    reach = _REACH.get(contact_method or "")
    chosen = f"{reach}, as you asked," if reach else f"{_DEFAULT_REACH},"
    how = (
        f"Our intake team will {chosen} usually within one business day, "
        "to find an appointment time that suits you."
    )
    return ContactPromise(how=how, when=_when(best_time, hours_text.strip()))


def _when(best_time: str | None, hours_text: str) -> str:
    hours = f"our hours ({hours_text})" if hours_text else "our business hours"
    if best_time == "evening":
        # The desk works business hours, which may end before anyone's early evening: say so,
        # rather than leave the patient waiting by the phone at 6 pm. Worded to stay true if
        # the clinic's hours do reach into the evening.
        return (
            f"You asked for early evening: we can only reach you within {hours}, "
            "so we'll try as late in the day as we can."
        )
    if best_time in _DAYTIME:
        return f"We'll aim for the {best_time}, within {hours}."
    return f"We'll get in touch within {hours}."
