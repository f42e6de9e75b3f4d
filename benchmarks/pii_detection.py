"""Hit and false-alarm rates of trustseg's personal-data detection on a planted corpus.

Positives are drawn with Faker (not a dependency of trustseg; ``pip install faker``), a source independent
of the lists the detector uses, in six locales: names, US social security numbers, Chinese resident ids,
card numbers, street addresses, e-mail addresses and phone numbers, each alone and inside a sentence.
Negatives are what survey cells hold without personal data: profile categories (occupations, cities,
education, membership types, bands), numbers (amounts, years, ratings, percentages, postcodes), dates and
times, product and panel codes, version numbers and free-text comments (Faker sentences).

A value counts as detected when :func:`trustseg.survey.privacy.personal_in` finds any kind in it (the search
a configured column gets); a negative flagged is a false alarm.  For phone numbers the script also scores
Google's libphonenumber (the ``phonenumbers`` package, matcher at leniency VALID over the locales' regions),
the library the issue suggested, on the same values.

    python benchmarks/pii_detection.py [--n 400] [--seed 1] [--out benchmarks/results/pii_detection.md]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from trustseg.survey.privacy import personal_in

LOCALES = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "zh_CN": "CN", "es_ES": "ES"}
SENTENCES = ["{}", "please contact {} about my membership", "{} (from the registration form)", "联系方式：{}"]


def positives(n: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """``{kind: [(locale, value)]}``: n planted values per kind, half alone and half inside a sentence."""
    from faker import Faker

    out: dict[str, list[tuple[str, str]]] = {}
    rng = random.Random(seed)
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        makers = {
            "personal names": fake.name,
            "e-mail addresses": fake.email,
            "phone numbers": fake.phone_number,
            "street addresses": fake.street_address,
            "card numbers": fake.credit_card_number,
        }
        if locale == "en_US":
            makers["national identity numbers (US SSN)"] = fake.ssn
        if locale == "zh_CN":
            makers["national identity numbers (CN resident id)"] = fake.ssn
        for kind, make in makers.items():
            for i in range(n // len(LOCALES) + 1):
                value = str(make())
                if i % 2:
                    value = rng.choice(SENTENCES[1:]).format(value)
                out.setdefault(kind, []).append((locale, value))
    # Faker writes a wrong check character into most Chinese resident ids; a real id always has the right one
    from stdnum.cn import ric

    def checked(value: str) -> bool:
        digits = "".join(ch for ch in value if ch.isdigit() or ch in "Xx")[-18:].upper()
        return len(digits) == 18 and ric.calc_check_digit(digits[:17]) == digits[17]

    key = "national identity numbers (CN resident id)"
    out[key + ", right check character"] = [(loc, v) for loc, v in out[key] if checked(v)]
    return out


def negatives(n: int, seed: int) -> dict[str, list[str]]:
    """``{family: [value]}`` of cells without personal data."""
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker(["en_US", "de_DE", "fr_FR", "zh_CN"])
    fake.seed_instance(seed)
    categories = ["Full member", "Social member", "Junior", "Retired", "Manager", "Teacher", "Art teacher",
                  "Nurse", "Engineer", "Student", "High school", "Bachelor's degree", "Master's degree", "高中",
                  "本科", "研究生", "北京", "上海", "广州", "Zhang Jiakou", "London", "Paris", "Berlin",
                  "New York", "Austin", "Georgia", "Victoria", "Jordan", "North", "South", "Gold Member",
                  "Will recommend", "Rose garden", "<30k", "30-60k", "60-100k", "65+", "18-24", "Male", "Female",
                  "Prefer not to say", "Very satisfied", "Strongly agree", "N/A", "don't know"]
    families = {
        "profile categories": [rng.choice(categories) for _ in range(n)],
        "occupations": [fake.job() for _ in range(n)],
        "cities and countries": [rng.choice([fake.city(), fake.country()]) for _ in range(n)],
        "numbers": [rng.choice([str(rng.randint(0, 10**rng.randint(1, 12))), f"{rng.uniform(-1e6, 1e6):.4f}",
                                f"{rng.randint(1, 99)}%", f"{rng.randint(1950, 2030)}",
                                f"{rng.uniform(0, 1):.12f}", str(rng.randint(10**9, 10**11))]) for _ in range(n)],
        "dates and times": [rng.choice([fake.date(), fake.time(), fake.iso8601(), fake.date(pattern="%d/%m/%Y"),
                                        fake.date(pattern="%d.%m.%Y %H:%M")]) for _ in range(n)],
        "codes and ids": [rng.choice([f"R_{fake.pystr(min_chars=15, max_chars=15)}", f"G{rng.randint(1, 9999):04d}",
                                      fake.ean13(), f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                                      fake.postcode(), fake.license_plate(), fake.uuid4()]) for _ in range(n)],
        "free-text comments": [fake.sentence(nb_words=rng.randint(4, 18)) for _ in range(n)],
    }
    return families


def libphonenumber_finds(value: str) -> bool:
    import phonenumbers

    for region in ("US", "GB", "DE", "FR", "CN", "ES"):
        if any(True for _ in phonenumbers.PhoneNumberMatcher(value, region, leniency=phonenumbers.Leniency.VALID)):
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400, help="planted values per kind (default 400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/pii_detection.md")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = ["| planted kind | locale | values | trustseg finds | libphonenumber finds |", "|---|---|---:|---:|---:|"]
    for kind, values in positives(args.n, args.seed).items():
        for locale in LOCALES:
            mine = [v for loc, v in values if loc == locale]
            if not mine:
                continue
            hits = sum(bool(personal_in(v)) for v in mine)
            phone = (f"{sum(libphonenumber_finds(v) for v in mine) / len(mine):.0%}"
                     if kind == "phone numbers" else "")
            rows.append(f"| {kind} | {locale} | {len(mine)} | {hits / len(mine):.0%} | {phone} |")
    rows += ["", "| cells without personal data | values | trustseg flags | libphonenumber flags | examples flagged |",
             "|---|---:|---:|---:|---|"]
    for family, values in negatives(args.n, args.seed).items():
        flagged = [v for v in values if personal_in(v)]
        phone = sum(libphonenumber_finds(v) for v in values)
        shown = "; ".join(f"`{v}` ({', '.join(personal_in(v))})" for v in list(dict.fromkeys(flagged))[:3])
        rows.append(f"| {family} | {len(values)} | {len(flagged) / len(values):.1%} | {phone / len(values):.1%} | "
                    f"{shown} |")
    text = "\n".join(rows) + f"\n\n`python benchmarks/pii_detection.py --n {args.n} --seed {args.seed}`, " \
                             f"{time.perf_counter() - started:.0f} s.\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
