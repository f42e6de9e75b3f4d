"""Personal data in a survey: recognising it, and keeping it out of every output.

Detection decides what the cleaning report names as dropped personal data,
which configured columns are refused, and which respondent ids are replaced by
pseudonyms.  The outputs never carry a column the config does not use,
whatever detection finds, so unconfigured columns cost nothing to over-report:
content checks count ANY value that holds personal data, also inside free text.
Reasons name what was found and how often, never a value.
"""

from __future__ import annotations

import ipaddress
import re

import pandas as pd

__all__ = ["detect_personal_columns"]

_PERSONAL_SUBSTRINGS = (
    "email", "e-mail", "e_mail", "phone", "ipaddress", "ip_address", "latitude", "longitude",
    "geolocation", "firstname", "lastname", "surname", "fullname", "username", "first_name",
    "last_name", "full_name", "user_name", "vorname", "nachname", "telefon", "prenom", "prénom", "courriel",
    "姓名", "名字", "电话", "手机", "邮箱", "邮件", "地址", "经度", "纬度", "定位",
)
_PERSONAL_TOKENS = {"name", "nom", "ip", "lat", "lon", "lng", "tel", "mobile", "mail", "address", "geo", "gps", "cell"}
# an e-mail address anywhere in free text ("contact me at jo@example.com")
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-']+@[\w\-]+(\.[\w\-]+)+")
# IP address candidates, confirmed by the ipaddress module (octets <= 255, a valid IPv6 layout);
# a fifth dotted part makes a version number, not an address.  The IPv6 borders are ASCII
# word characters, not \w, so an address right after Chinese text ("电话2001:db8::1") is found.
_IPV4_IN_TEXT = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6_IN_TEXT = re.compile(r"(?<![0-9A-Za-z_])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z_])")
# A phone number is read as digit groups ("+44", "(0)", "20", "7946") joined by at most
# three separator characters; stretches of consecutive groups are tried as numbers, longest first.
_DIGIT_GROUP = re.compile(r"(?<![A-Za-z0-9_])\+?\(?\d+\)?")
_GROUP_GAP = re.compile(r"[\s.\-/]{0,3}")
_DATE_IN_NUMBER = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{4}|\d{4}([./-])\d{1,2}\2\d{1,2}")
# North American (555) 123-4567 / 555-123-4567 / 1-555-123-4567, and Chinese mobiles 138 1234 5678.
_US_PHONE = re.compile(r"(?:1[\s.\-])?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}")
_CN_MOBILE = re.compile(r"1[3-9]\d(?:[\s\-]?\d{4}){2}")
_MAX_GROUPS = 8  # no phone number has more digit groups than "+33 (0)6 12 34 56 78" and its like


def _name_reason(column: str) -> str | None:
    low = column.lower()
    for sub in _PERSONAL_SUBSTRINGS:
        if sub in low:
            return f"name contains {sub!r}"
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).lower()
    tokens = set(re.split(r"[^0-9a-z]+", spaced)) - {""}
    hit = sorted(tokens & _PERSONAL_TOKENS)
    return f"name contains {hit[0]!r}" if hit else None


def _is_phone(candidate: str) -> bool:
    """Whether a run of digit groups is a phone number in one of the usual national or international forms."""
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15 or _DATE_IN_NUMBER.search(candidate) or re.fullmatch(r"\d+\.\d+", candidate):
        return False
    bare = candidate.lstrip("(")
    if candidate.startswith("+"):  # international: +44 20 7946 0123, +49 (0)30 1234567, +86 138 1234 5678
        return digits >= 8 and candidate[1:2] != "0"
    if bare.startswith("00"):  # international with the 00 prefix: 0044 20 7946 0123
        return digits >= 10
    if bare.startswith("0"):  # national trunk prefix: UK 020 7946 0123, DE 030/1234567, FR 06 12 34 56 78
        return 9 <= digits <= 12
    return bool(_US_PHONE.fullmatch(candidate) or _CN_MOBILE.fullmatch(candidate))


def _phones_in(text: str) -> list[str]:
    """The phone numbers in a text (longest reading first at each start)."""
    groups = list(_DIGIT_GROUP.finditer(text))
    found, i = [], 0
    while i < len(groups):
        # the run of groups, from group i, that only separators join
        end = i
        while (end + 1 < len(groups) and end + 1 - i < _MAX_GROUPS
               and _GROUP_GAP.fullmatch(text, groups[end].end(), groups[end + 1].start())):
            end += 1
        hit = next((j for j in range(end, i - 1, -1) if _is_phone(text[groups[i].start():groups[j].end()])), None)
        if hit is None:
            i += 1
        else:
            found.append(text[groups[i].start():groups[hit].end()])
            i = hit + 1
    return found


def _ips_in(text: str) -> list[str]:
    found = []
    for pattern, version in ((_IPV4_IN_TEXT, ipaddress.IPv4Address), (_IPV6_IN_TEXT, ipaddress.IPv6Address)):
        for match in pattern.finditer(text):
            # "::" or "a::b" in prose parse as IPv6 but are no address anyone wrote
            groups = [g for g in match.group().split(":") if g]
            if version is ipaddress.IPv6Address and (len(groups) < 2 or sum(map(len, groups)) < 4):
                continue
            try:
                version(match.group())
            except ValueError:
                continue
            found.append(match.group())
    return found


_KINDS = ("e-mail addresses", "IP addresses", "phone numbers")


def _personal_in(value: str, phones: bool) -> dict:
    """``{kind: whole}`` for each kind of personal datum in one value; ``whole`` when it is the entire value.

    Each kind found is cut out before the next is looked for, so the digits of
    an e-mail address or an IP address are not read again as a phone number.
    """
    kinds = {}
    rest = value
    for kind, find in (("e-mail addresses", lambda t: [m.group() for m in _EMAIL_IN_TEXT.finditer(t)]),
                       ("IP addresses", _ips_in), ("phone numbers", _phones_in if phones else lambda t: [])):
        hits = find(rest)
        if hits:
            kinds[kind] = len(hits) == 1 and hits[0] == rest.strip()
            for hit in hits:
                rest = rest.replace(hit, " ")
    return kinds


def _content_reason(col: pd.Series, phones: bool = True) -> str | None:
    # Numbers lose the "+" and leading zero that tell a phone number from a count or an id;
    # an unconfigured numeric column never reaches the results anyway.
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    values = col.dropna().astype(str).str.strip()
    values = values[values != ""]
    # Only text with a digit, an "@" or a ":" can hold an address or a number.
    candidates = values[values.str.contains(r"[\d@:]", regex=True)]
    if candidates.empty:
        return None
    # Every value is checked, not a sample: one leaked address is one too many.
    seen = {value: _personal_in(value, phones) for value in candidates.unique()}
    per_value = [seen[value] for value in candidates]
    reasons = []
    for kind in _KINDS:
        holding = [found[kind] for found in per_value if kind in found]
        if not holding:
            continue
        if all(holding):
            reasons.append(f"{len(holding)} of its {len(values)} values look like {kind}")
        else:
            reasons.append(f"free text with {kind} in {len(holding)} answer(s)")
    return ", ".join(reasons) or None


def detect_personal_columns(raw: pd.DataFrame, extra=(), used=(), ids=()) -> dict:
    """Find columns that hold personal data.

    A column is personal data when its name says so (e-mail, phone, name, IP,
    geolocation, ...) or when any of its values holds an e-mail address, a
    phone number (international, UK, US, German, French, Chinese and similar
    forms) or an IPv4/IPv6 address, also inside free text.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw survey table.
    extra : iterable of str
        Columns the config declares personal (``cleaning.personal_data_columns``).
    used : iterable of str
        Columns the config uses (items, id, weight, profile, ...).  Their names
        are not held against them (the researcher chose them), but their
        content still is.
    ids : iterable of str
        Columns of respondent ids: their numbers are ids, not phone numbers
        (e-mail and IP addresses still count).

    Returns
    -------
    dict
        ``{column: reason}`` in column order.  Reasons name what was found and
        how often, never a value.
    """
    extra, used, ids = set(extra), set(used), set(ids)
    found: dict = {}
    for column in raw.columns:
        if column in extra:
            found[column] = "listed in cleaning.personal_data_columns"
            continue
        reason = None if column in used else _name_reason(str(column))
        reason = reason or _content_reason(raw[column], phones=column not in ids)
        if reason:
            found[column] = reason
    return found

