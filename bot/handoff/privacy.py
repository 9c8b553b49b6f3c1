"""Personal data outside the transcript: phone numbers and e-mail addresses masked.

Staff read a conversation's own transcript in full; every other view (lists, search
results, figures, unanswered questions, exports of lists) shows masked values, so
aggregate screens never carry contact details.
"""
from __future__ import annotations

import re
from typing import Optional

#: Mainland mobile and landline numbers, with optional +86 / area code and separators.
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?:1[3-9]\d[- ]?\d{4}[- ]?\d{4}|0\d{2,3}[- ]?\d{7,8})(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: A run of 7+ digits that is no year or amount we know of still looks like a contact number.
_LONG_DIGITS = re.compile(r"(?<!\d)\d{7,}(?!\d)")


def _mask_phone(match: "re.Match[str]") -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"{digits[:3]}****{digits[-2:]}" if len(digits) >= 7 else "****"


def _mask_email(match: "re.Match[str]") -> str:
    local, _, domain = match.group(0).partition("@")
    return f"{local[:1]}***@{domain}"


def mask_personal_data(text: Optional[str]) -> str:
    """``text`` with phone numbers and e-mail addresses masked."""
    if not text:
        return ""
    text = _EMAIL.sub(_mask_email, text)
    text = _PHONE.sub(_mask_phone, text)
    return _LONG_DIGITS.sub(_mask_phone, text)


__all__ = ["mask_personal_data"]
