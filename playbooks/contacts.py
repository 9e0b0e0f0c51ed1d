"""Customer addresses as the providers take them: an email address, an E.164 phone number.

A value that cannot be one would only fail later, at the provider, once per message; it is
refused where it comes in (identify, simulate's audience, a playbook test's customer) with a
sentence that says so.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


def clean_contact(key: str, value: object) -> tuple[str | None, str | None]:
    """(the value to store, None) or (None, why it cannot be stored) for `email` or `phone`;
    a phone written with spaces, dashes or brackets is stored in its E.164 form."""
    text = str(value).strip()
    if key == "email":
        if _EMAIL.fullmatch(text):
            return text, None
        return None, f"'{text}' is not an email address (name@domain.example)"
    if key == "phone":
        compact = _PHONE_PUNCTUATION.sub("", text)
        if _E164.fullmatch(compact):
            return compact, None
        return None, (f"'{text}' is not a phone number in E.164 form: '+', the country code "
                      "and the number, such as '+14155550123'")
    return text, None
