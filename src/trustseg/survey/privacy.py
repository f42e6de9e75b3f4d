"""Personal data in a survey: recognising it, and keeping it out of every output.

Detection decides what the cleaning report names as dropped personal data,
which configured columns are refused, and which respondent ids are replaced by
pseudonyms.  The outputs never carry a column the config does not use,
whatever detection finds, so unconfigured columns cost nothing to over-report:
content checks count ANY value that holds personal data, also inside free text.
Reasons name what was found and how often, never a value.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import unicodedata
from importlib import resources
from pathlib import Path

import pandas as pd

from trustseg.errors import ConfigError, DataError

__all__ = ["detect_personal_columns", "draft_personal_columns", "personal_in", "personal_ids", "personal_header",
           "pseudonyms", "pseudonym_key", "key_fingerprint"]

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
_DIGIT_GROUP = re.compile(r"(?<![A-Za-z0-9_])\+?\(?\d+\)?(?![A-WYZa-wyz])")  # "x" starts an extension
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


# National identity numbers, validated by python-stdnum (checksums, dates of birth, blocked ranges):
# a US social security number is written 123-45-6789; a Chinese resident id has 17 digits and a check character.
_SSN = re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])")
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# Card numbers: 13-19 digits, alone or in groups split by single spaces or dashes, with a card network's prefix
# (Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Discover 6011/644-649/65, JCB 35, UnionPay 62, Diners 30/36/38)
# and a valid Luhn check digit.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])")
# (lengths: Visa 16 or 19, Amex 15, Maestro 12-19, the others 14-19)
_CARD_FORMS = re.compile(r"^(?:4(?:\d{15}|\d{18})|3[47]\d{13}|(?:50|5[6-9]|6\d)\d{10,17}|(?:5[1-5]|2(?:2[2-9]|[3-6]\d|"
                         r"7[01]|720)|6011|64[4-9]|65|35|62|3[068]|2131|1800)\d{10,17})$")
# Street addresses: a house number and a street type (English, French), a German street name and its number,
# a Chinese road and its number (号).
# The street types of the US postal service's list (common ones and their abbreviations) and British ones.
_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|"
                 r"Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Alley|Bypass|Canyon|Causeway|Circle|Cir|Corner|"
                 r"Cove|Creek|Crossing|Estates?|Expressway|Extension|Ferry|Fork|Forks|Freeway|Gardens|Gateway|Glen|"
                 r"Grove|Harbor|Heights|Hollow|Islands?|Junction|Knolls?|Landing|Lights?|Loop|Mall|Manor|Meadows?|"
                 r"Mews|Mills?|Mission|Motorway|Orchard|Oval|Pass|Path|Pike|Plaza|Points?|Ports?|Prairie|Ranch|"
                 r"Rapids?|Ridge|Row|Shoals?|Shores?|Skyway|Springs?|Station|Stravenue|Summit|Throughway|Trace|"
                 r"Trafficway|Trail|Tunnel|Turnpike|Underpass|Union|Valley|Viaduct|View|Views|Village|Villages|"
                 r"Ville|Vista|Walk|Wells?|Wharf")
_ADDRESSES = (
    re.compile(r"(?<![\w.,-])\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'’.-]*\s+){1,4}(?i:" + _STREET_TYPES + r")\b\.?"),
    re.compile(r"(?<![\w-])[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|damm)\s+\d{1,4}[a-z]?\b"),
    re.compile(r"(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|allée|impasse|chemin|"
               r"quai|route)\s+(?:de\s+|du\s+|des\s+|la\s+|l')*\w+", re.IGNORECASE),
    re.compile(r"[\u4e00-\u9fff]{1,12}(?:路|街|大道|巷|弄|胡同)\d{1,5}号"),
)
# A personal name: a first name and a surname from the US census lists, capitalised (Alice Johnson, ALICE
# JOHNSON); in ids and headers also a Chinese name: a common surname and one to three given characters.
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*")
_CN_SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
                   "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
                   "戴莫孔向汤")
_CN_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "尉迟", "长孙", "宇文", "司徒",
                         "夏侯")
_CN_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}")

_DECIMAL_NUMBER = re.compile(r"[+-]?(?:\d*\.\d+(?:[eE][+-]?\d+)?|\d+\.?\d*[eE][+-]?\d+)")

_KINDS = ("e-mail addresses", "IP addresses", "national identity numbers", "card numbers", "street addresses",
          "phone numbers", "personal names")
#: one of each kind, as a sentence names it
SINGULAR = {"e-mail addresses": "an e-mail address", "IP addresses": "an IP address",
            "national identity numbers": "a national identity number", "card numbers": "a card number",
            "street addresses": "a street address", "phone numbers": "a phone number",
            "personal names": "a personal name"}
#: the kinds looked for in a column the config does not use (it never reaches an output; names go by its header)
UNCONFIGURED_KINDS = _KINDS[:-1]


@functools.cache
def _name_list(resource: str) -> frozenset:
    text = resources.files("trustseg").joinpath("data", resource).read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _plain(word: str) -> str:
    """A word lower-cased without accents (José -> jose), as the census lists spell names."""
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and (word[1:].islower() or word.isupper())


def _names_in(text: str) -> list[str]:
    """Personal names in a text: a capitalised first name followed by a capitalised surname."""
    first, last = _name_list("first_names.txt"), _name_list("surnames.txt")
    words = list(_WORD.finditer(text))
    found = []
    for one, two in zip(words, words[1:]):
        a, b = one.group(), two.group()
        gap = text[one.end():two.start()]
        if gap.strip(" ") or not (_capitalised(a) and _capitalised(b)):
            continue
        if _plain(a) in first and any(_plain(part) in last for part in b.split("-")):
            found.append(text[one.start():two.end()])
    return found


def _chinese_name(text: str) -> bool:
    """Whether a whole value reads as a Chinese name (王小明).  Only for ids and headers: a profile category
    such as 高中 (high school) starts with a surname character too."""
    whole = text.strip()
    return bool(_CN_NAME.fullmatch(whole)) and (whole[0] in _CN_SURNAMES or whole.startswith(_CN_COMPOUND_SURNAMES))


def _ssns_in(text: str) -> list[str]:
    from stdnum.us import ssn

    return [m.group() for m in _SSN.finditer(text) if ssn.is_valid(re.sub(r"\D", "", m.group()))]


def _cn_ids_in(text: str) -> list[str]:
    """Chinese resident ids: a valid check character and date of birth (python-stdnum also knows the region
    codes in use; an id with a code it does not list is still counted here, when check character and date fit)."""
    from stdnum.cn import ric

    found = []
    for match in _CN_ID.finditer(text):
        value = match.group().upper()
        try:
            plausible = ric.calc_check_digit(value[:17]) == value[17] and ric.get_birth_date(value) is not None
        except Exception:  # an impossible date of birth
            plausible = False
        if plausible or ric.is_valid(value):
            found.append(match.group())
    return found


def _cards_in(text: str) -> list[str]:
    from stdnum import luhn

    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if _CARD_FORMS.match(digits) and luhn.is_valid(digits):
            found.append(match.group())
    return found


def _addresses_in(text: str) -> list[str]:
    return [m.group() for pattern in _ADDRESSES for m in pattern.finditer(text)]


_FINDERS = {
    "e-mail addresses": lambda t: [m.group() for m in _EMAIL_IN_TEXT.finditer(t)],
    "IP addresses": _ips_in,
    "national identity numbers": lambda t: _ssns_in(t) + _cn_ids_in(t),
    "card numbers": _cards_in,
    "street addresses": _addresses_in,
    "phone numbers": _phones_in,
    "personal names": _names_in,
}


def personal_in(value: str, kinds=_KINDS) -> dict:
    """``{kind: whole}`` for each kind of personal datum in one value; ``whole`` when it is the entire value.

    Each kind found is cut out before the next is looked for, so the digits of
    an e-mail address, an IP address, an identity or card number are not read
    again as a phone number.
    """
    found = {}
    if _DECIMAL_NUMBER.fullmatch(value.strip()):
        return found  # a number with a decimal point or an exponent (-0.0016308602, 1.5e16) is a measurement
    rest = value
    for kind in _KINDS:
        if kind not in kinds:
            continue
        hits = _FINDERS[kind](rest)
        if hits:
            found[kind] = len(hits) == 1 and hits[0] == rest.strip()
            for hit in hits:
                rest = rest.replace(hit, " ")
    return found


def content_reason(col: pd.Series, kinds=_KINDS) -> str | None:
    """What personal data a column holds and in how many values (never a value), or None."""
    # Numbers lose the "+" and leading zero that tell a phone number from a count or an id;
    # an unconfigured numeric column never reaches the results anyway.
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    values = col.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.str.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").all():
        return None  # a column of plain numbers (kept as text only for their many digits), as above
    # Without names only text with a digit, an "@" or a ":" can hold an address or a number.
    candidates = values if "personal names" in kinds else values[values.str.contains(r"[\d@:]", regex=True)]
    if candidates.empty:
        return None
    # Every value is checked, not a sample: one leaked address is one too many.
    seen = {value: personal_in(value, kinds) for value in candidates.unique()}
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


def _id_phone(value: str) -> list[str]:
    """Phone numbers in an id: any formatted number, or a bare Chinese mobile, UK mobile or 00-prefixed number.

    Bare digits are ids unless they have a mobile number's exact form: a
    zero-padded panel id (0123456789) is not a phone number.
    """
    value = value.strip()
    if not value.isdigit():
        return _phones_in(value)
    if _CN_MOBILE.fullmatch(value) or (len(value) == 11 and value.startswith("07")) or (
            value.startswith("00") and 12 <= len(value) <= 15 and value[2] != "0"):
        return [value]
    return []


def personal_ids(ids: pd.Series) -> str | None:
    """What personal data respondent ids hold (e-mail, phone, name, identity or card numbers), or None."""
    values = ids.dropna().astype(str)
    values = values[values.str.strip() != ""]
    kinds = ("e-mail addresses", "national identity numbers", "card numbers", "personal names")
    counts: dict = {}
    for value, n in values.value_counts(sort=False).items():
        found = list(personal_in(value, kinds)) + (["phone numbers"] if _id_phone(value) else [])
        if "personal names" not in found and _chinese_name(value):
            found.append("personal names")
        for kind in found:
            counts[kind] = counts.get(kind, 0) + int(n)
    if not counts:
        return None
    return ", ".join(f"{n} of its {len(values)} ids hold {kind}" for kind, n in counts.items())


def personal_header(name: str) -> str | None:
    """The kind of personal datum a column header holds (an e-mail address as a header), or None."""
    found = personal_in(str(name))
    if not found and _chinese_name(str(name)):
        return "personal names"
    return next(iter(found), None)


def withheld(column, position: int, kind: str) -> str:
    """How a column whose header holds personal data is named in messages and reports: by position only."""
    return f"column {position} (its header is withheld: it holds {SINGULAR[kind]})"


def pseudonyms(ids: pd.Series, key: bytes) -> pd.Series:
    """Keyed pseudonyms of respondent ids: the first 20 hex digits of HMAC-SHA256(key, id).

    The same id always gets the same pseudonym under the same key, so the
    results can be joined back to the survey file by computing the
    pseudonyms of its ids (``trustseg pseudonyms``); without the key they
    cannot be turned back into ids, nor guessed by trying phone numbers.
    """
    def one(value):
        if value is None or (isinstance(value, float) and value != value):
            return value
        return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:20]

    out = ids.astype(object).map(one).astype("str").rename(ids.name)
    present = out.dropna()
    originals = ids[present.index].astype(str)
    if present.nunique() != originals.nunique():  # 80 bits: a collision is as unlikely as can be, but never silent
        raise DataError("two different respondent ids got the same pseudonym; please report this")
    return out


def key_fingerprint(key: bytes) -> str:
    """A short fingerprint of a pseudonym key (names which key made the pseudonyms; reveals nothing of it)."""
    return hashlib.sha256(b"trustseg pseudonym key" + key).hexdigest()[:12]


#: the default pseudonym key file, in the folder the run starts in
DEFAULT_KEY_NAME = "pseudonym.key"


def resolve_pseudonym_key(config) -> str:
    """The file of the key of respondent-id pseudonyms: ``cleaning.pseudonym_key``, else ``pseudonym.key`` in
    the folder the run starts in (beside ``results/``, never under it)."""
    path = Path((config.get("cleaning") or {}).get("pseudonym_key") or DEFAULT_KEY_NAME)
    if path.resolve().is_relative_to(Path("results").resolve()):
        raise ConfigError(f"config key 'cleaning.pseudonym_key' is '{path}', under results/: the key must be kept "
                          "apart from the results it protects. Give a path outside results/.")
    return str(path)


def pseudonym_key(path, create: bool = True) -> bytes:
    """The pseudonym key stored in ``path`` (64 hex digits); a new random key is written there when missing.

    The file is created with permissions 0600 and never overwritten: losing
    it means the pseudonyms in earlier results can no longer be joined back.
    """
    path = Path(path)
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        if not re.fullmatch(r"[0-9a-f]{64}", text):
            raise DataError(f"{path}: is not a trustseg pseudonym key (64 hexadecimal digits). Give the key file in "
                            "cleaning.pseudonym_key, or remove the setting to use the default.")
        return bytes.fromhex(text)
    if not create:
        raise DataError(f"{path}: the pseudonym key file does not exist.")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return bytes.fromhex(text)


def detect_personal_columns(raw: pd.DataFrame, extra=(), used=(), ids=()) -> dict:
    """Find columns that hold personal data.

    A column the config does not use is personal data when its name says so
    (e-mail, phone, name, IP, geolocation, ...) or when any of its values
    holds an e-mail address, an IPv4/IPv6 address, a national identity number
    (US SSN, Chinese resident id), a card number, a street address or a phone
    number (international, UK, US, German, French, Chinese and similar forms),
    also inside free text.  A column the config uses is also searched for
    personal names.

    Parameters
    ----------
    raw : pandas.DataFrame
        The raw survey table.
    extra : iterable of str
        Columns the config declares personal (``cleaning.personal_data_columns``).
    used : iterable of str
        Columns the config uses (items, weight, profile, ...).  Their names
        are not held against them (the researcher chose them), but their
        content still is, names included.
    ids : iterable of str
        Columns of respondent ids: left out here (:func:`personal_ids` decides
        whether they are replaced by pseudonyms).

    Returns
    -------
    dict
        ``{column: reason}`` in column order.  Reasons name what was found and
        how often, never a value.
    """
    extra, used, ids = set(extra), set(used), set(ids)
    found: dict = {}
    for column in raw.columns:
        if column in ids:
            continue
        if column in extra:
            found[column] = "listed in cleaning.personal_data_columns"
            continue
        if column in used:
            reason = content_reason(raw[column])
        else:
            reason = _name_reason(str(column)) or content_reason(raw[column], UNCONFIGURED_KINDS)
        if reason:
            found[column] = reason
    return found


def draft_personal_columns(raw: pd.DataFrame) -> dict:
    """``{column: reason}`` of the columns a draft config must not show values of: found by their header or by
    any kind of personal datum in their values, personal names included (nothing is configured yet)."""
    found = detect_personal_columns(raw)
    for column in raw.columns:
        if column not in found:
            reason = content_reason(raw[column]) or (
                f"its header holds {SINGULAR[personal_header(column)]}" if personal_header(column) else None)
            if reason:
                found[column] = reason
    return {c: found[c] for c in raw.columns if c in found}
