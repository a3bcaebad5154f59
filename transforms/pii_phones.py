"""Finding and normalising phone numbers with Google's libphonenumber (``phonenumbers``).

Decisions (docs/records.md, "Phone numbers"):

* Default region ``BD``: a number written without a country code is read as Bangladeshi.
* ``PhoneNumberMatcher`` at leniency ``VALID`` finds numbers in free text: every written form
  libphonenumber parses to a *valid* number (any separators, any grouping, ``+880``/``880``/
  ``00880``/``0`` or, for mobiles, no prefix at all) is found. ``POSSIBLE`` also takes dates and
  bare order ids; ``STRICT_GROUPING`` misses most real-world groupings (bench/pii.py measures).
* Numbers of other countries are PII too: found when written with ``+`` or ``00`` (an explicit
  country code). Without one, digits are read as a Bangladeshi number only, so a price or an
  order id that happens to be a valid Indian or US number stays as it is.
* The matcher skips a whole candidate that looks like a date ("15/03/2024 01712345678") and
  needs a national prefix for numbers without a country code. A second pass therefore looks at
  the digit runs the matcher left and tries each stretch of whole digit groups with
  ``phonenumbers.parse``; libphonenumber, not a pattern, decides what is a number.
* Normalisation is E.164 (``+8801712345678``), so a number in a structured field and the same
  number anywhere in free text share one digest.
"""
import re
from datetime import datetime
from typing import Iterator, NamedTuple

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType

DEFAULT_REGION = "BD"
LENIENCY = Leniency.VALID
# Shortest digit count worth asking libphonenumber about; cheaper than running the matcher on
# every text (most posts hold no number of that size at all).
MIN_PHONE_DIGITS = 7
# A phone never has more digits than this (E.164 allows 15, plus an "00" prefix).
_MAX_PHONE_DIGITS = 17

_DROP_DIGITS = str.maketrans("", "", "0123456789")
# Digit groups joined by characters people put inside phone numbers. This only proposes
# stretches of text to libphonenumber; it lists no forms.
# A run glued to a number by ":" or "," is part of a time or a price, not a phone.
_RUN_RE = re.compile(r"(?<![0-9A-Za-z_:,])\+?\(?[0-9](?:[0-9]|[ \-./()\u00a0]{1,4}(?=[0-9(]))*\)?"
                     r"(?![0-9A-Za-z_]|[:,][0-9])")
_GROUP_RE = re.compile(r"[0-9]+")
# A match that continues a digit run ("... 801300000 - 0 11") may be a piece cut out of a
# longer number by the matcher's inner search; the second pass judges the whole run instead.
_RUN_BEFORE = re.compile(r"[0-9][ \-./()\u00a0]{1,4}$")
# No "^": Pattern.match(text, pos) anchors at pos already, and "^" would demand pos == 0.
_RUN_AFTER = re.compile(r"[ \-./()\u00a0]{1,4}[0-9]")
_WORD_CHAR = re.compile(r"[0-9A-Za-z_]")
# Written dates are also valid landline numbers ("08.01.2000" reads as a Rajshahi number);
# the matcher only knows slashed dates. strptime decides what is a calendar date.
_DATE_FORMATS = ("%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d",
                 "%d.%m.%y", "%d-%m-%y", "%d/%m/%y", "%Y%m%d", "%d%m%Y")


class PhoneMatch(NamedTuple):
    """A phone number found in text: its span and its E.164 form."""

    start: int
    end: int
    e164: str


def digit_count(text: str) -> int:
    """Returns how many ASCII digits ``text`` holds (C speed; the matcher's pre-filter)."""
    return len(text) - len(text.translate(_DROP_DIGITS))


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_phone_number(value: str) -> str | None:
    """Returns the E.164 form of a valid phone number written in ASCII digits, else ``None``."""
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return _e164(number) if phonenumbers.is_valid_number(number) else None


def _joined_to_word(text: str, start: int) -> bool:
    # "ORD-004933 ...", "SKU/01712..." and "#A.0171..." are identifiers, not phone numbers;
    # "1,081 — 1000" and "10:30" are a price and a time ("Call:0171..." is still a phone).
    if start < 2:
        return False
    before, joiner = text[start - 2], text[start - 1]
    if joiner in "-/#.":
        return bool(_WORD_CHAR.match(before))
    return joiner in ",:" and before.isdigit()


def _glued(text: str, start: int, end: int) -> bool:
    # A number glued to letters, digits or "_" is part of an identifier (or of a token), and so
    # is one joined to a word by "-", "/", "#" or ".".
    if start > 0 and _WORD_CHAR.match(text[start - 1]):
        return True
    if _joined_to_word(text, start):
        return True
    return bool(end < len(text) and _WORD_CHAR.match(text[end]))


def _bare_landline(raw: str, number: phonenumbers.PhoneNumber) -> bool:
    # Without "+", "00" or the trunk "0", only a mobile number is trusted: libphonenumber also
    # takes "4496 569 425" (a bare 10-digit landline) that is far more often an id or an amount.
    return (not raw.lstrip("(").startswith(("+", "0"))
            and phonenumbers.number_type(number) != PhoneNumberType.MOBILE)


def _foreign_digit_run(raw: str, number: phonenumbers.PhoneNumber) -> bool:
    # "00" + a foreign country code as one unbroken digit run is far more often an id with
    # leading zeros than a dialled number; written with "+" or grouped, it is a number.
    return (raw.startswith("00") and raw.isdigit()
            and phonenumbers.region_code_for_number(number) != DEFAULT_REGION)


def _stand_alone(candidate: str) -> str | None:
    """E.164 of a stretch of digit groups that is a phone number on its own, else ``None``."""
    digits = candidate.translate(str.maketrans("", "", " -./()\u00a0+"))
    if not MIN_PHONE_DIGITS <= len(digits) <= _MAX_PHONE_DIGITS or is_date(candidate):
        return None
    try:
        number = phonenumbers.parse(candidate, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if candidate.startswith(("+", "(+", "00", "(00")):
        if _foreign_digit_run(candidate, number):
            return None
        return _e164(number)  # an explicit country code
    # National or bare: only a Bangladeshi mobile number is trusted here. A landline is left to
    # the matcher, which knows dates ("08.10.2024" is a valid Rajshahi number too), and a
    # number valid only elsewhere is a price or an order id when written without a "+".
    if (phonenumbers.region_code_for_number(number) == DEFAULT_REGION
            and phonenumbers.number_type(number) == PhoneNumberType.MOBILE):
        return _e164(number)
    return None


def _without_extension(raw: str, extension: str | None) -> int:
    """Length of ``raw`` without an extension: "x1" after a number is mostly a quantity."""
    if not extension:
        return len(raw)
    end, left = len(raw), len(extension)
    while end and left:
        end -= 1
        left -= raw[end].isdigit()
    while end and not raw[end - 1].isdigit():
        end -= 1
    return end


def is_date(text: str) -> bool:
    """Whether ``text`` is a calendar date written with its usual separators (or none)."""
    text = text.strip()
    if not 6 <= digit_count(text) <= 8:
        return False  # cheap: strptime is slow, and most candidates have more digits
    for fmt in _DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        return True
    return False


def _date_at_edge(raw: str) -> bool:
    """Whether a candidate begins or ends with a date standing apart ("01.10.2000 — 100")."""
    # libphonenumber takes dashes of every kind as phone punctuation, so a date and the number
    # after it can become one candidate; the second pass judges the digits apart instead.
    pieces = raw.split()
    return len(pieces) > 1 and (is_date(pieces[0]) or is_date(pieces[-1]))


def _has_space(separator: str) -> bool:
    return any(char.isspace() for char in separator)


def _runs_left(text: str, taken: list[PhoneMatch]) -> Iterator[PhoneMatch]:
    """Second pass: longest valid stretch of whole digit groups from each group start."""
    pieces, last = [], 0
    for match in taken:
        pieces += [text[last:match.start], " " * (match.end - match.start)]
        last = match.end
    masked = "".join(pieces) + text[last:]
    for run in _RUN_RE.finditer(masked):
        if digit_count(run.group(0)) < MIN_PHONE_DIGITS:
            continue
        body = run.group(0)
        groups = list(_GROUP_RE.finditer(body))
        # A number starts and ends where whitespace separates it from its neighbours, never in
        # the middle of "12/01/2025" or "2024-03-15".
        opens = {0} | {i for i in range(1, len(groups))
                       if _has_space(body[groups[i - 1].end():groups[i].start()])}
        closes = {len(groups) - 1} | {i - 1 for i in opens if i}
        first = 0
        while first < len(groups):
            found = None
            # A number holds at most _MAX_PHONE_DIGITS digits: that bounds the stretches tried.
            reach, digits = first, 0
            while reach < len(groups) and digits + len(groups[reach].group(0)) <= \
                    _MAX_PHONE_DIGITS:
                digits += len(groups[reach].group(0))
                reach += 1
            for last in range(reach - 1, first - 1, -1):
                if first not in opens or last not in closes:
                    continue
                start = run.start() + groups[first].start()
                end = run.start() + groups[last].end()
                # Take a "+" or "(" that leads the number.
                while start > run.start() and masked[start - 1] in "+(":
                    start -= 1
                # No stretch starting here is a phone: "ORD-013000 ( 0 - 1300 ..." and
                # "order #13000 ( 0 - 1300 ..." begin with an id (what the matcher found
                # itself after a "#" it keeps: there, missing a phone would be worse).
                if _joined_to_word(masked, start) or masked[start - 1:start] == "#":
                    break
                e164 = _stand_alone(masked[start:end])
                if e164:
                    found = PhoneMatch(start, end, e164)
                    break
            if found:
                yield found
                first = last + 1
            else:
                first += 1


def find_phones(text: str) -> list[PhoneMatch]:
    """Finds every valid phone number in ``text`` (ASCII digits), in order of position.

    Args:
        text: Free text whose digits are ASCII (map other scripts first, length for length).

    Returns:
        The numbers found, non-overlapping, sorted by start.
    """
    if digit_count(text) < MIN_PHONE_DIGITS:
        return []
    found = []
    for match in PhoneNumberMatcher(text, DEFAULT_REGION, leniency=LENIENCY):
        end = match.start + _without_extension(match.raw_string, match.number.extension)
        raw = text[match.start:end]
        if _RUN_BEFORE.search(text, max(0, match.start - 5), match.start) or \
                _RUN_AFTER.match(text, end, end + 5):
            continue
        if _glued(text, match.start, end) or is_date(raw) or _date_at_edge(raw) or \
                _foreign_digit_run(raw, match.number) or _bare_landline(raw, match.number):
            continue
        found.append(PhoneMatch(match.start, end, _e164(match.number)))
    if digit_count(text) - sum(digit_count(text[m.start:m.end]) for m in found) >= \
            MIN_PHONE_DIGITS:
        found.extend(_runs_left(text, found))
        found.sort()
    return found
