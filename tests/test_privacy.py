"""Nothing leaks: personal data in the survey never reaches an output of the cleaning stage.

The cleaning stage writes only the columns the config uses (respondent id,
items, construct scores, weight, profile) and the flag reasons; recognising
personal data only decides what the cleaning report names as dropped.  These
tests plant e-mail addresses, phone numbers in several national formats,
IPv4/IPv6 addresses and personal names into extra columns of a piece of the
bundled golf survey, at any share of the rows and also inside free text, and
look for them in every file the stage writes and in its log: through the stage
function the rule's script calls (property-based), and through Snakemake the
way a user runs it.  The last test runs the whole workflow, notebooks and the
HTML report on the full bundled survey with such columns planted (about 55 s
on two shared cores) and searches every file it writes.
"""

from __future__ import annotations

import base64
import copy
import functools
import html
import io
import ipaddress
import json
import logging
import random
import re
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_workflow import run_workflow

from trustseg.stages.cleaning import clean
from trustseg.survey.cleaning import clean_survey
from trustseg.survey.io import read_survey

REPO = Path(__file__).resolve().parents[1]
SURVEY = REPO / "resources" / "golf_survey.csv"
OUTPUTS = ("clean", "flagged", "report", "reliability")

# "#" any digit, "@" a North American area-code lead digit, "%" the second digit of a Chinese mobile
PHONE_FORMATS = {
    "UK": ["+44 20 7946 ####", "020 7946 ####", "07700 900###", "+44 7700 900###", "0044 161 496 ####"],
    "US": ["+1 (@##) ###-####", "(@##) ###-####", "@##-###-####", "@##.###.####", "1-@##-###-####"],
    "DE": ["+49 30 ########", "030 ########", "+49 (0)30 #######", "0151 ########", "030/#######"],
    "CN": ["1%#########", "+86 1%# #### ####", "1%#-####-####", "+86-1%#-####-####"],
    "FR": ["+33 6 ## ## ## ##", "01 ## ## ## ##", "06.##.##.##.##", "+33 (0)1 ## ## ## ##"],
}
_FILL = {"#": "0123456789", "@": "23456789", "%": "3456789"}
NAMES = ["Alice Johnson", "Jürgen Müller", "Marie-Claire Dubois", "Zhang Wei", "王小明", "Siobhán O'Neill",
         "Rahul Sharma", "Ngozi Okafor", "José García"]
# where a planted value sits in its answer: alone, or inside free text
TEXTS = ["{}", "call me on {} please", "contact: {} thanks", "{}, cheers", "我的电话{}", "Reach me at {} any time"]
FILLERS = [None, "", "n/a", "unknown", "great course", "no comment", "5", "the greens were slow"]
# column names that say "personal" (found by name) and names that say nothing
NAMED = ["first_name", "RecipientLastName", "Name", "姓名", "full name", "Telefon", "email_address"]
NEUTRAL = ["extra", "notes", "feedback", "source", "Q7_other", "remarks"]


def _phone_strategy():
    templates = [t for formats in PHONE_FORMATS.values() for t in formats]
    return st.sampled_from(templates).flatmap(
        lambda t: st.tuples(*(st.sampled_from(_FILL[c]) if c in _FILL else st.just(c) for c in t)).map("".join))


def _realistic_v6(address: ipaddress.IPv6Address) -> bool:
    # "::", "1::" and IPv4-mapped forms are no address a respondent writes down
    groups = [g for g in str(address).split(":") if g]
    return address.ipv4_mapped is None and len(groups) >= 2 and len("".join(groups)) >= 4


PLANTED = {
    "email": st.from_regex(r"[a-z][a-z0-9._]{0,10}[a-z0-9]@[a-z][a-z0-9-]{1,10}[a-z]\.(org|com|de|fr|co\.uk|cn)",
                           fullmatch=True),
    "phone": _phone_strategy(),
    "ipv4": st.ip_addresses(v=4).filter(lambda a: not str(a).startswith("0.")).map(str),
    "ipv6": st.ip_addresses(v=6).filter(_realistic_v6).map(str),
    "name": st.sampled_from(NAMES),
}


@functools.cache
def _base() -> tuple[dict, pd.DataFrame]:
    """The bundled config and 40-odd rows of the bundled survey (as text), a dozen of them flagged."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    text = pd.read_csv(SURVEY, dtype=str, keep_default_na=False)
    flagged = clean_survey(read_survey(SURVEY, config["data"]), config).flagged["source_row"] - 1
    rows = sorted(set(range(30)) | set(flagged[:12]))
    return config, text.iloc[rows].reset_index(drop=True)


def _run_stage(raw: pd.DataFrame, workdir: Path, action: str = "drop") -> tuple[dict, str]:
    """Run the cleaning stage function on ``raw``; every file it wrote (name -> text) and its log."""
    config = copy.deepcopy(_base()[0])
    path = workdir / "survey.csv"
    raw.to_csv(path, index=False)
    config["data"]["path"] = str(path)
    config["cleaning"]["flagged_action"] = action
    out = workdir / "out"
    out.mkdir()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logger = logging.getLogger("trustseg")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        clean(config, {name: str(out / f"{name}.csv") for name in OUTPUTS})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())}
    return files, log.getvalue()


@functools.cache
def _without_extras(action: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return _run_stage(_base()[1], Path(tmp), action)[0]


def _leaks(planted, texts: dict) -> list:
    return sorted({(value, where) for value in planted for where, text in texts.items() if value in text})


def _personal_detail(report_csv: str) -> str:
    report = pd.read_csv(io.StringIO(report_csv)).set_index("rule")
    return str(report.loc["personal_data", "detail"])


@st.composite
def surveys_with_pii(draw):
    """The base survey with 1-4 extra columns, each holding planted values in a random share of its rows."""
    _, base = _base()
    raw = base.copy()
    n = len(raw)
    planted: dict[str, dict] = {}  # column -> {"values": [...], "kinds": {...}}
    for i in range(draw(st.integers(1, 4))):
        column = f"{draw(st.sampled_from(NAMED + NEUTRAL))}_{i}"
        kinds = draw(st.lists(st.sampled_from(sorted(PLANTED)), min_size=1, max_size=3, unique=True))
        count = draw(st.integers(1, n))
        rows = set(draw(st.permutations(range(n)))[:count])
        values, cells, found = [], [], set()
        for row in range(n):
            if row in rows:
                kind = draw(st.sampled_from(kinds))
                value = draw(PLANTED[kind])
                found.add(kind)
                values.append(value)
                cells.append(draw(st.sampled_from(TEXTS)).format(value))
            else:
                cells.append(draw(st.sampled_from(FILLERS)))
        raw[column] = cells
        planted[column] = {"values": values, "kinds": found}
    return raw, planted, draw(st.sampled_from(["drop", "keep"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(surveys_with_pii())
def test_property_planted_personal_data_never_reaches_an_output(case):
    raw, planted, action = case
    with tempfile.TemporaryDirectory() as tmp:
        files, log = _run_stage(raw, Path(tmp), action)
        as_read = read_survey(Path(tmp) / "survey.csv", _base()[0]["data"])
    values = {v for spec in planted.values() for v in spec["values"]}
    assert not _leaks(values, {**files, "log": log})
    # By construction: the extra columns change no output but the report's accounting of them.
    baseline = _without_extras(action)
    for name, text in files.items():
        if not name.startswith("report"):
            assert text == baseline[name], name
    # Recognition, at any share: contact data by content (when read as text), names by column name.
    detail = _personal_detail(files["report.csv"])
    for column, spec in planted.items():
        by_content = spec["kinds"] - {"name"} and not pd.api.types.is_numeric_dtype(as_read[column])
        by_name = column.rsplit("_", 1)[0] in NAMED
        if by_content or by_name:
            assert f"{column} (" in detail, (column, detail)


def test_reproduction_ip_every_third_row_phone_every_fourth_answer(tmp_path):
    """The issue's reproduction: a column of IPs in a third of the rows, a phone in a quarter of the comments."""
    raw = pd.read_csv(SURVEY, dtype=str, keep_default_na=False)
    n = len(raw)
    raw["origin"] = [f"10.0.0.{i % 250}" if i % 3 == 0 else "unknown" for i in range(n)]
    raw["remarks"] = [f"call me on +44 20 7946 0{i % 1000:03d}" if i % 4 == 0 else "nothing to add"
                      for i in range(n)]
    files, log = _run_stage(raw, tmp_path)
    pattern = re.compile(r"10\.0\.0\.|7946")
    assert sum(bool(pattern.search(line)) for text in files.values() for line in text.splitlines()) == 0
    assert not pattern.search(log)
    detail = _personal_detail(files["report.csv"])
    assert "origin (402 of its 1206 values look like IP addresses)" in detail
    assert "remarks (free text with phone numbers in 302 answer(s))" in detail


@pytest.mark.workflow
def test_workflow_cleaning_stage_leaks_nothing(tmp_path):
    """Snakemake's cleaning job on a small copy with planted personal data: nothing in results/ or logs/."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    raw = pd.read_csv(SURVEY, dtype=str, keep_default_na=False).iloc[:120].copy()
    n = len(raw)
    planted = {
        "origin": [f"10.0.0.{i}" for i in range(n)],
        "contact": [f"member{i:03d}@golfclub.example.org" for i in range(n)],
        "remarks": [f"call me on +44 20 7946 0{i:03d}" for i in range(n)],
        "Q9_other": [f"Handy 0151 2345{i:04d}, oder 2001:db8::{i + 1:x}" for i in range(n)],
        "备注": [f"我的电话138{i:08d}" for i in range(n)],
        "RecipientFirstName": ["Siobhán", "Jürgen", "Marie-Claire"] * (n // 3),
        "RecipientLastName": ["O'Neill-Planted", "Müller-Planted", "Dubois-Planted"] * (n // 3),
        "extra": [f"appelez le 06.12.34.{i // 10:02d}.{i % 10}0" for i in range(n)],
    }
    for column, values in planted.items():
        # at several shares: every row, every second, every fifth, one row
        share = {"origin": 1, "contact": 2, "remarks": 4, "Q9_other": 5, "extra": n}.get(column, 1)
        raw[column] = [v if i % share == 0 else "unknown" for i, v in enumerate(values)]
    raw.to_csv(tmp_path / "survey.csv", index=False)
    config["data"]["path"] = "survey.csv"
    # the default config/config.yaml of the work directory, as in a scratch copy of the project
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    result = run_workflow(tmp_path, None, "results/cleaning/clean.csv")
    assert result.returncode == 0, result.stderr[-4000:]

    kept = {column: [v for i, v in enumerate(values) if raw[column].iloc[i] == v] for column, values in planted.items()}
    needles = {v for values in kept.values() for v in values}
    needles |= {"10.0.0.", "+44 20 7946", "golfclub.example", "2001:db8", "0151 2345", "Planted", "06.12.34"}
    written = {str(p.relative_to(tmp_path)): p.read_text(encoding="utf-8")
               for top in ("results", "logs") for p in (tmp_path / top).rglob("*") if p.is_file()}
    assert "results/cleaning/flagged.csv" in written and "logs/cleaning/clean_survey.log" in written
    assert not _leaks(needles, {**written, "snakemake output": result.stdout + result.stderr})
    detail = _personal_detail(written["results/cleaning/report.csv"])
    for column in planted:
        assert f"{column} (" in detail, (column, detail)


# ----------------------------------------------------------------------------- the whole workflow

# Cut-down fits and bootstrap, as --config overrides on top of the bundled config (read as YAML by trustseg)
QUICK_OVERRIDES = [
    "analyses={repurchase_on_satisfaction: {segments: [1, 2, 3], n_init: 3}}",
    "bootstrap={replicates: 4, chunks: 2, n_init: 1, lr_test_replicates: 3}",
]
FIRST = ["Siobhán", "Jürgen", "Marie-Claire", "Rahul", "Ngozi", "José", "Wei", "Aoife", "Bartholomew"]
LAST = ["O'Neill-Fairweather", "Müller-Lüdenscheidt", "Dubois-Marchetti", "Sharma-Vasquez", "Okafor-Lindqvist",
        "García-Bergström", "Zhangsun", "Ní Bhriain", "Quillfeather"]
DOMAINS = ["fairway-mail.example.org", "clubhouse.example.co.uk", "greenkeeper.example.de"]
_DATA_URI = re.compile(rb"data:[\w.+/-]*(?:;[^,;\"'\s]*)*;base64,([A-Za-z0-9+/=]+)")
_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def _filled(template: str, i: int) -> str:
    """A phone template of PHONE_FORMATS filled with digits drawn from ``i`` (the same i, the same number)."""
    rng = random.Random(i)
    return "".join(rng.choice(_FILL[c]) if c in _FILL else c for c in template)


def _planted_survey() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The whole bundled survey plus six columns of personal data at shares from every row to one row.

    Each kind cycles through a few dozen distinct values, so every value sits in
    many rows (flagged and kept ones alike) and the search stays cheap.
    """
    raw = pd.read_csv(SURVEY, dtype=str, keep_default_na=False)
    n = len(raw)
    phones = [_filled(t, i) for i, t in enumerate(t for f in PHONE_FORMATS.values() for t in f)]
    phones += [_filled(t, i + 100) for i, t in enumerate(t for f in PHONE_FORMATS.values() for t in f)]
    names = [f"{first} {last}" for first, last in zip(FIRST, LAST)] + [f"{FIRST[i]} {LAST[-1 - i]}" for i in range(9)]
    emails = [f"{first.lower()}.{re.sub('[^a-zà-ÿ]', '', last.split('-')[0].lower())}{i}@{DOMAINS[i % 3]}"
              for i, (first, last) in enumerate(zip(FIRST * 3, LAST[::-1] * 3))]
    # as typed into a form: "jürgen" -> "jurgen"
    emails = [unicodedata.normalize("NFKD", e).encode("ascii", "ignore").decode() for e in emails]
    ipv4 = [f"198.51.100.{i * 7 + 3}" for i in range(30)] + [f"203.0.113.{i * 11 + 2}" for i in range(15)]
    ipv6 = [f"2001:db8:{0x85a3 + i:x}:{0x370 + i * 37:x}::{i + 1:x}" for i in range(20)]
    ipv6 += [f"fe80::1ff:fe23:4567:{i:x}" for i in (1, 2)]
    planted = {"email": emails, "phone": phones, "ipv4": ipv4, "ipv6": ipv6, "name": names}

    def pick(kind: str, i: int) -> str:
        return planted[kind][i % len(planted[kind])]

    def column(share: int, cell) -> list[str]:
        return [cell(i) if i % share == 0 else FILLERS[i % len(FILLERS)] or "" for i in range(n)]

    raw["full_name"] = column(4, lambda i: pick("name", i))                     # a quarter, found by its header
    raw["contact"] = column(1, lambda i: pick("email", i))                      # every row
    raw["telephone"] = column(2, lambda i: pick("phone", i))                    # half, five national formats
    raw["origin"] = [pick("ipv4", i) if i % 3 == 0 else pick("ipv6", i) if i % 7 == 0 else "unknown"
                     for i in range(n)]                                         # a third IPv4, a tenth IPv6
    raw["remarks"] = column(5, lambda i: TEXTS[i % len(TEXTS)].format(         # a fifth, inside free text
        f"{pick('phone', i * 3)} or {pick('email', i * 5)}"))
    raw["Q12_other"] = ["" if i != n // 2 else f"{pick('name', 1)}, {pick('ipv6', 3)}, {pick('phone', 7)}"
                        for i in range(n)]                                      # one row
    raw["ann.lee@fairway-mail.example.org"] = "yes"                            # an e-mail address as a header
    raw["Q13 SSN card address"] = [["Johnathan Smithers 123-45-6789", "card 4111 1111 1111 1111",
                                    "221B Baker Street", "身份证 11010519491231002X"][i % 4] if i % 6 == 0 else ""
                                   for i in range(n)]                          # identity, card numbers, addresses
    # the respondent ids are phone numbers, e-mail addresses and names (a repeated id stays repeated)
    personal_ids = {old: [f"+44 20 7946 {i:04d}", f"golfer{i}@{DOMAINS[i % 3]}", f"{pick('name', i)} {i}"][i % 3]
                    for i, old in enumerate(dict.fromkeys(raw["respondent_id"]))}
    raw["respondent_id"] = raw["respondent_id"].map(personal_ids)
    planted["ids"] = list(personal_ids.values())
    planted["identity and card numbers, addresses"] = ["123-45-6789", "Smithers", "4111 1111 1111 1111",
                                                       "Baker Street", "11010519491231002X",
                                                       "ann.lee@fairway-mail.example.org"]
    # the bundled survey's own comments carry e-mail addresses (member0001@example.com) too
    planted["bundled email"] = sorted(set(re.findall(r"member\d+@example\.com", " ".join(raw["comment"]))))
    return raw, planted


def _spellings(value: str) -> set[bytes]:
    """The ways a value could be written into an output: as is, HTML-, JSON- and LaTeX-escaped."""
    forms = {value, html.escape(value), html.escape(value, quote=False), value.replace("'", "&#x27;"),
             json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], value.replace("_", r"\_")}
    return {form.encode("utf-8") for form in forms}


def _searchable(name: str, data: bytes, depth: int = 0):
    """(where, bytes) of a file and of everything embedded in it: base64 data URIs, zip members, PDF streams."""
    yield name, data
    if depth > 3:
        return
    for i, match in enumerate(_DATA_URI.finditer(data)):
        yield from _searchable(f"{name} > data URI {i}", base64.b64decode(match.group(1)), depth + 1)
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from _searchable(f"{name} > {member}", archive.read(member), depth + 1)
    if data[:5] == b"%PDF-":
        for i, match in enumerate(_PDF_STREAM.finditer(data)):
            try:
                yield f"{name} > stream {i}", zlib.decompress(match.group(1))
            except zlib.error:
                pass


@pytest.mark.workflow
def test_full_workflow_notebooks_and_report_leak_nothing(tmp_path):
    """The full workflow, notebooks and HTML report on the bundled survey with planted personal data: no leak.

    Fits and bootstrap are cut down by --config overrides; cleaning, figures
    (PNG + PDF), notebooks and report are the defaults.  Searched, for every
    planted value as is and HTML-, JSON- and LaTeX-escaped, and for fragments
    (the domains, the address prefixes, the surnames): the bytes of every file
    under results/ (tables in .csv/.md/.tex, JSON, fits, PNG and PDF figures
    with the PDFs' streams decompressed, the executed notebooks as .ipynb and
    .html with the data URIs in them decoded), logs/, .snakemake/ (Snakemake's
    own logs and metadata) and Snakemake's output; and inside
    results/report.html every embedded file (base64 data URIs: the CSV tables,
    the images, the three notebooks' HTML and the images in those).  Not
    searched: text drawn as pixels in the PNG figures and the notebooks' PNG
    outputs (they show only configured columns).
    """
    raw, planted = _planted_survey()
    raw.to_csv(tmp_path / "survey.csv", index=False)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["data"]["path"] = "survey.csv"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                                     encoding="utf-8")
    overrides = ["--config", *QUICK_OVERRIDES]
    run = run_workflow(tmp_path, None, *overrides)
    assert run.returncode == 0, run.stderr[-4000:]
    report = run_workflow(tmp_path, None, *overrides, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-4000:]

    files = {str(p.relative_to(tmp_path)): p.read_bytes()
             for top in ("results", "logs", ".snakemake") for p in sorted((tmp_path / top).rglob("*")) if p.is_file()}
    files["snakemake output"] = (run.stdout + run.stderr + report.stdout + report.stderr).encode("utf-8")
    for notebook in ("01_data_and_cleaning", "02_segments", "03_profiles_and_managerial_reading"):
        assert f"results/notebooks/{notebook}.ipynb" in files and f"results/notebooks/{notebook}.html" in files
    searched = [part for name, data in files.items() for part in _searchable(name, data)]
    embedded = {where for where, _ in searched if where.startswith("results/report.html > ")}
    # the report embeds its tables and the three notebooks; the search reads them (the cleaning report names
    # the dropped columns, so their headers are found inside the report.html's embedded files only)
    assert len(embedded) >= 20, embedded
    assert b"full_name (" not in files["results/report.html"]
    assert any(b"full_name (" in data for where, data in searched if where in embedded)
    assert any(b"<html" in data and b"full_name (" in data for where, data in searched if where in embedded)

    needles = {value for values in planted.values() for value in values}
    needles |= {"@example.com", *DOMAINS, "198.51.100.", "203.0.113.", "2001:db8:", "fe80::1ff",
                *(last for last in LAST if len(last) > 8)}
    assert len(planted["bundled email"]) > 50 and len(needles) > 200
    leaks = sorted({(value, where) for value in needles for form in _spellings(value)
                    for where, data in searched if form in data})
    assert not leaks, leaks[:20]
    detail = _personal_detail(files["results/cleaning/report.csv"].decode("utf-8"))
    for column in ("full_name", "contact", "telephone", "origin", "remarks", "Q12_other", "comment",
                   "Q13 SSN card address"):
        assert f"{column} (" in detail, (column, detail)
    assert "its header is withheld" in detail
    # the ids are replaced by keyed pseudonyms (the key beside the config, outside results/), and say so
    assert (tmp_path / "pseudonym.key").is_file()
    report = pd.read_csv(io.StringIO(files["results/cleaning/report.csv"].decode("utf-8"))).set_index("rule")
    assert "replaced by keyed pseudonyms" in report.loc["personal_ids", "action"]
