"""Finding and hashing PII: phone numbers, e-mail addresses, card numbers and national IDs.

Pure functions and a small keyed hasher; the Beam transforms live in ``pii.py``.
Matching runs on a copy of the text whose Bengali digits (০-৯) are mapped to ASCII one for
one, so positions line up and a number written in either script is found and hashed alike.
"""
import functools
import hashlib
import hmac
import re
from typing import Any, Callable

from stdnum import luhn

from sensory.transforms.pii_phones import find_phones, normalize_phone_number

ANONYMIZATION_VERSION = "1"

# Structured PII fields and their aliases on input -> the field that replaces them.
PII_FIELDS = {
    "author": "author_hash",
    "author_username": "author_hash",
    "customer_phone": "customer_phone_hash",
    "customer_email": "customer_email_hash",
    "customer_name": "customer_name_hash",
}
# Which normaliser a structured field's value goes through before hashing.
_FIELD_KINDS = {"author": "name", "author_username": "name", "customer_name": "name",
                "customer_phone": "phone", "customer_email": "email"}

TOKEN_HEX_CHARS = 16
# Scrubbed texts remembered per hasher (bounded memory: at most this many of this length).
_REMEMBERED_TEXTS = 4096
_REMEMBERED_TEXT_CHARS = 2048
_MAY_HOLD_PII = re.compile("[0-9০-৯@]")
_BENGALI_DIGIT_RE = re.compile("[০-৯]")
_BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
# Boundaries are ASCII on purpose: Bengali letters next to a number must not hide it.
_NOT_AFTER = r"(?<![0-9A-Za-z_])"
_NOT_BEFORE = r"(?![0-9A-Za-z_])"

EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]")
# Candidate card numbers: digit groups joined by single spaces or dashes; Luhn decides.
CARD_CANDIDATE_RE = re.compile(_NOT_AFTER + r"[0-9]+(?:[ -][0-9]+)*" + _NOT_BEFORE)
NID_RE = re.compile(_NOT_AFTER + r"(?:[0-9]{17}|[0-9]{13}|[0-9]{10})" + _NOT_BEFORE)
_GROUP_SPLIT_RE = re.compile(r"[ -]")

# "author": "value" inside text that is not valid JSON (truncated objects, Python reprs).
_KEY_VALUE_RE = re.compile(
    r"""(?P<head>(?P<q>["'])(?P<key>%s)(?P=q)\s*:\s*)(?P<vq>["'])(?P<value>(?:\\.|(?!(?P=vq)).)*)"""
    % "|".join(PII_FIELDS), re.DOTALL)


def luhn_valid(digits: str) -> bool:
    """Returns whether a string of ASCII digits passes the Luhn check (python-stdnum)."""
    return luhn.is_valid(digits)


def normalize_phone(value: str) -> str:
    """Maps every written form of a phone number to E.164, e.g. ``+8801712345678``.

    libphonenumber decides (region ``BD`` when no country code is written), so a structured
    ``customer_phone`` and the same number found in free text hash alike.

    Args:
        value: A phone number as written, in ASCII or Bengali digits.

    Returns:
        The E.164 form; for a value libphonenumber does not accept as valid, the old
        Bangladeshi mapping (``+8801XXXXXXXXX``) or else the bare digits.
    """
    ascii_value = value.translate(_BENGALI_DIGITS)
    e164 = normalize_phone_number(ascii_value)
    if e164:
        return e164
    digits = re.sub(r"[^0-9]", "", ascii_value)
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("880") and len(digits) == 13:
        digits = "0" + digits[3:]
    elif len(digits) == 10 and digits.startswith("1"):
        digits = "0" + digits
    if len(digits) == 11 and digits.startswith("01"):
        return "+88" + digits
    return digits or value.strip()


def _normalize(kind: str, value: str) -> str:
    if kind == "phone":
        return normalize_phone(value)
    return value.strip().casefold()


class PIIHasher:
    """Keyed HMAC-SHA256 hashing; equal values under one key hash alike, so joins still work.

    Args:
        key: The secret key (see ``sensory.settings.load_pii_key``).
    """

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("PIIHasher needs a non-empty key")
        # The keyed state is set up once; each digest copies it (cheaper than hmac.new).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        # Reposts and templated posts repeat their text, and finding phone numbers
        # (libphonenumber) is the costliest step of scrubbing; a repeat is looked up instead.
        self._remembered_scrub = functools.lru_cache(maxsize=_REMEMBERED_TEXTS)(
            self._scrub_text)

    def digest(self, kind: str, value: str) -> str:
        """Returns the hex HMAC of a normalised value, domain-separated by ``kind``."""
        return self._digest_normalised(kind, _normalize(kind, value))

    def _digest_normalised(self, kind: str, normalised: str) -> str:
        keyed = self._keyed.copy()
        keyed.update(f"{kind}:{normalised}".encode("utf-8", "surrogatepass"))
        return keyed.hexdigest()

    def token(self, kind: str, value: str) -> str:
        """Returns a typed token such as ``PHONE_1a2b3c4d5e6f7a8b`` for free text."""
        return f"{kind.upper()}_{self.digest(kind, value)[:TOKEN_HEX_CHARS]}"

    def hash_field(self, field: str, value: Any) -> Any:
        """Hashes a structured PII field's value; ``None`` stays ``None``."""
        if value is None:
            return None
        return self.digest(_FIELD_KINDS.get(field, "name"), str(value))

    def scrub_text(self, text: str) -> str:
        """Replaces e-mails, phone numbers, Luhn-valid card numbers and NIDs by typed tokens.

        Order matters: e-mails first (they may contain digits), phones before cards (a phone
        with its country code is 13 digits and could pass Luhn), NIDs last. The results for
        the last few thousand short texts are remembered, so a repeated text costs a lookup.
        """
        if len(text) <= _REMEMBERED_TEXT_CHARS:
            return self._remembered_scrub(text)
        return self._scrub_text(text)

    def _scrub_text(self, text: str) -> str:
        text = _sub(text, EMAIL_RE, lambda m: self.token("email", _ascii(m)))
        text = self._phones(text)
        text = _sub(text, CARD_CANDIDATE_RE, self._cards_in_run)
        return _sub(text, NID_RE, lambda m: self.token("nid", _ascii(m)))

    def scrub_key_values(self, text: str) -> str:
        """Hashes the values of PII keys found in text that is not valid JSON."""
        def replace(match: re.Match) -> str:
            value = self.hash_field(match.group("key"), match.group("value"))
            return f"{match.group('head')}{match.group('vq')}{value}"
        return _KEY_VALUE_RE.sub(replace, text)

    def _phones(self, text: str) -> str:
        found = find_phones(_ascii(text))
        if not found:
            return text
        pieces, last = [], 0
        for match in found:
            # Already E.164: hashing it directly skips a second parse by libphonenumber.
            digest = self._digest_normalised("phone", match.e164)
            pieces += [text[last:match.start], f"PHONE_{digest[:TOKEN_HEX_CHARS]}"]
            last = match.end
        pieces.append(text[last:])
        return "".join(pieces)

    def _cards_in_run(self, run: str) -> str:
        # A run of digit groups may hold a card plus neighbouring numbers ("4111 ... 1111 123"):
        # take the longest Luhn-valid stretch of whole groups from each starting group.
        # ``run`` is the original text (digits in either script); hash the ASCII digits, but
        # give back what is not a card exactly as written.
        parts = _GROUP_SPLIT_RE.split(run)
        separators = _GROUP_SPLIT_RE.findall(run)
        out, start = [], 0
        while start < len(parts):
            for end in range(len(parts), start, -1):
                digits = _ascii("".join(parts[start:end]))
                if 13 <= len(digits) <= 19 and luhn_valid(digits):
                    out.append(self.token("card", digits))
                    break
            else:
                end = start + 1
                out.append(parts[start])
            if end < len(parts):
                out.append(separators[end - 1])
            start = end
        return "".join(out)


def _ascii(text: str) -> str:
    # translate() walks every character in Python-level lookups; most text has no Bengali digit.
    return text.translate(_BENGALI_DIGITS) if _BENGALI_DIGIT_RE.search(text) else text


def _sub(text: str, pattern: re.Pattern, replace: Callable[[str], str]) -> str:
    """Like ``pattern.sub`` but matching on the ASCII-digit copy and cutting the original.

    ``replace`` gets the original slice, so what it gives back unchanged keeps its script.
    """
    ascii_text = _ascii(text)
    pieces, last = [], 0
    for match in pattern.finditer(ascii_text):
        pieces.append(text[last:match.start()])
        pieces.append(replace(text[match.start():match.end()]))
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)
