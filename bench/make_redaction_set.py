"""Build the labelled redaction set (issue 29, point 7): personal data against look-alike numbers.

    PYTHONPATH=. .venv/bin/python bench/make_redaction_set.py [--out tests/data/redaction_set.csv] [--seed 29]

Needs `phonenumbers` (`pip install -e ".[bench]"`); the committed CSV does not. Seeded and deterministic:
the same seed and `phonenumbers` version write the same file.

The items come from sources that are not refine's own patterns:

- phone: `phonenumbers` example numbers (fixed line, mobile, toll free) for 20 national plans, plus
  numbers that differ from an example in the last digits and that `phonenumbers` calls valid; written in
  national, international and E.164 format and with the separators people type (dash, dot, none);
- card: Luhn-valid numbers for the major IIN ranges (Visa, Mastercard, Amex, Discover, JCB, Diners,
  UnionPay, Maestro) at their usual lengths, grouped as printed on the card, with spaces, dashes or none;
- email: addresses of varied shapes (dots, plus tags, digits, hyphens, sub-domains, country domains,
  capitals, non-ASCII letters);
- the negatives: order numbers (shop, marketplace, ERP shapes), invoice numbers, carrier tracking numbers
  (UPS 1Z..., USPS 20/22 digits, FedEx 12/15 digits, DHL 10 digits and JD..., Royal Mail AB123456789GB),
  each with and without `#`; prices and price ranges; number ranges; dates and times in common formats;
  version strings; quantities.

Each item sits in a short feedback sentence (several templates per category, none with other digits).
Rows are split into `dev` (for choosing patterns) and `test` (scored once), seeded, half and half within
each category.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGIONS = [
    "US", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "ES", "IT",
    "NL", "MX", "CN", "KR", "ZA", "SG", "SE", "PL", "IE", "AR",
]  # fmt: skip
PERSONAL = {"phone": "[PHONE]", "card": "[CARD]", "email": "[EMAIL]"}

TEMPLATES = {
    "phone": [
        "Please call me back on {x}, nobody answered my emails.",
        "My number is {x} if you need more details.",
        "Text me at {x} when the replacement ships.",
        "I called {x} three times and was put on hold.",
        "You can reach me on {x} in the evenings.",
        "Courier should ring {x} before delivery.",
    ],
    "card": [
        "You charged my card {x} twice for the same order.",
        "The refund never reached card {x}.",
        "Paid with {x} and the payment was declined anyway.",
        "Please remove {x} from my saved cards.",
        "My card number {x} was saved without asking.",
        "Checkout rejected {x} although it works everywhere else.",
    ],
    "email": [
        "Send the invoice to {x} please.",
        "I wrote to {x} and got no answer.",
        "My login is {x} but the reset link never arrives.",
        "Contact me at {x} about the refund.",
        "Update my address to {x}, the old one is closed.",
        "Newsletters keep going to {x} after I unsubscribed.",
    ],
    "order": [
        "My order {x} never arrived.",
        "Order {x} came with a broken lid.",
        "Still waiting on order number {x}, three weeks now.",
        "I cancelled {x} but was charged for the order anyway.",
        "Where is my order? It's {x}.",
        "Please refund order no. {x} as promised.",
    ],
    "invoice": [
        "Invoice {x} shows the wrong VAT rate.",
        "I was billed twice, see invoice number {x}.",
        "Can you resend {x}? The invoice PDF is blank.",
        "The amount on invoice {x} does not match my order.",
        "Your invoice ref {x} has my old company name.",
    ],
    "tracking": [
        "Tracking {x} hasn't moved in a week.",
        "The tracking number {x} says delivered but nothing came.",
        "Parcel {x} was returned to sender for no reason.",
        "My shipment {x} is stuck at customs.",
        "The courier site does not know {x}, is the tracking right?",
    ],
    "price": [
        "It cost {x} which is far too much for plastic.",
        "Paid {x} and it broke after a week.",
        "The same model is {x} at the store down the road.",
        "Worth every penny at {x}.",
        "At {x} I expected better stitching.",
    ],
    "range": [
        "Delivery took {x} days instead of two.",
        "I waited {x} minutes on the phone line.",
        "The battery lasts {x} hours at most.",
        "They said {x} working days for the refund.",
        "Sizes {x} all fit differently.",
    ],
    "date": [
        "Ordered on {x} and still nothing.",
        "The update on {x} broke the login.",
        "Delivered {x}, three weeks late.",
        "My subscription renewed on {x} without warning.",
        "Since {x} the app logs me out every day.",
    ],
    "version": [
        "Since the update to {x} the app crashes on start.",
        "Version {x} lost all my saved lists.",
        "Running {x} and the sync button does nothing.",
        "The {x} release made the font tiny.",
        "After upgrading to {x} notifications stopped.",
    ],
    "quantity": [
        "I have {x} points and cannot redeem any.",
        "The tracker counted {x} steps on a rest day.",
        "The car already had {x} km on it.",
        "Over {x} views and still no reply from support.",
        "The pack says {x} but I got half of that.",
    ],
}


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def group(digits: str, sizes: list[int], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at : at + size])
        at += size
    if at < len(digits):
        parts.append(digits[at:])
    return sep.join(p for p in parts if p)


def phones(rng: random.Random) -> list[tuple[str, str]]:
    import phonenumbers as pn
    from phonenumbers import PhoneNumberFormat as F
    from phonenumbers import PhoneNumberType as T

    out = []
    for region in REGIONS:
        for kind in (T.FIXED_LINE, T.MOBILE, T.TOLL_FREE):
            example = pn.example_number_for_type(region, kind)
            if example is None:
                continue
            numbers = [example]
            national = str(example.national_number)
            for _ in range(40):  # valid neighbours: the last three digits changed
                if len(numbers) == 3:
                    break
                candidate = national[:-3] + f"{rng.randrange(1000):03d}"
                number = pn.parse("+" + str(example.country_code) + candidate)
                if pn.is_valid_number(number) and candidate not in {str(n.national_number) for n in numbers}:
                    numbers.append(number)
            for number in numbers:
                national_fmt = pn.format_number(number, F.NATIONAL)
                intl_fmt = pn.format_number(number, F.INTERNATIONAL)
                variants = [
                    national_fmt,
                    intl_fmt,
                    pn.format_number(number, F.E164),
                    national_fmt.replace(" ", "-"),
                    " ".join(
                        [intl_fmt.split(" ", 1)[0], intl_fmt.split(" ", 1)[1].replace(" ", ".").replace("-", ".")]
                    ),
                    "".join(ch for ch in national_fmt if ch.isdigit()),
                ]
                for text in rng.sample(variants, 3):
                    out.append((f"{region}-{kind}", text))
    return out


CARD_BRANDS = [  # (brand, IIN prefixes, lengths)
    ("visa", ["4"], [16, 16, 16, 13, 19]),
    ("mastercard", ["51", "52", "53", "54", "55", "2221", "2500", "2720"], [16]),
    ("amex", ["34", "37"], [15]),
    ("discover", ["6011", "644", "649", "65"], [16, 19]),
    ("jcb", ["3528", "3550", "3589"], [16]),
    ("diners", ["300", "305", "36", "38"], [14]),
    ("unionpay", ["62"], [16, 17, 18, 19]),
    ("maestro", ["5018", "5020", "5038", "6304", "6759"], [16, 19]),
]


def card_groups(length: int) -> list[int]:
    return {15: [4, 6, 5], 14: [4, 6, 4], 13: [4, 4, 5]}.get(length, [4] * (length // 4))


def cards(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for brand, prefixes, lengths in CARD_BRANDS:
        for _ in range(30):
            length = rng.choice(lengths)
            digits = luhn_complete(rng.choice(prefixes), length, rng)
            out.append((brand, group(digits, card_groups(length), rng.choice([" ", "-", "", " "]))))
    return out


FIRST = ["anna", "jürgen", "li", "marie", "o'brien", "sam", "priya", "Tomás", "kwame", "yuki", "JOHN", "eve"]
LAST = ["smith", "müller", "nguyen", "garcia", "okafor", "tanaka", "kowalski", "silva", "dupont", "lee"]
DOMAINS = [
    "gmail.com", "outlook.com", "mail.example.co.uk", "web.de", "yahoo.fr", "company-name.com",
    "uni-hamburg.de", "posteo.net", "startup.io", "example.com.br", "dept.example.ac.jp", "ICLOUD.COM",
]  # fmt: skip


def emails(rng: random.Random) -> list[tuple[str, str]]:
    shapes = [
        lambda f, last, n: f"{f}.{last}",
        lambda f, last, n: f"{f}_{last}{n}",
        lambda f, last, n: f"{f[0]}{last}",
        lambda f, last, n: f"{f}.{last}+orders",
        lambda f, last, n: f"{f}{n}",
        lambda f, last, n: f"{last}-{f}",
        lambda f, last, n: f"{f}.{last}.{n}",
        lambda f, last, n: f"{f[0]}.{last}+{n}",
    ]
    out = []
    for i in range(200):
        shape = shapes[i % len(shapes)]
        local = shape(rng.choice(FIRST), rng.choice(LAST), rng.randrange(1, 2000))
        out.append((f"shape{i % len(shapes)}", f"{local}@{rng.choice(DOMAINS)}"))
    return out


def _digits(rng: random.Random, n: int, first: str = "123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def _hash(rng: random.Random, text: str) -> str:
    return "#" + text if rng.random() < 0.5 else text


def orders(rng: random.Random) -> list[tuple[str, str]]:
    shapes = {
        "shop": lambda: _digits(rng, rng.choice([4, 5, 6, 7])),
        "marketplace-3-7-7": lambda: f"{_digits(rng, 3)}-{_digits(rng, 7, '0123456789')}-{_digits(rng, 7)}",
        "auction-2-5-5": lambda: f"{_digits(rng, 2)}-{_digits(rng, 5)}-{_digits(rng, 5)}",
        "erp-digits": lambda: _digits(rng, rng.choice([8, 9, 10, 11, 12])),
        "prefixed": lambda: (
            rng.choice(["ORD-", "SO-", "A", "WEB"]) + _digits(rng, rng.choice([6, 8, 10]), "0123456789")
        ),
        "dated": lambda: f"2026{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}-{_digits(rng, 4, '0')}",
    }
    return [(name, _hash(rng, make())) for name, make in shapes.items() for _ in range(34)]


def invoices(rng: random.Random) -> list[tuple[str, str]]:
    shapes = {
        "inv-year-seq": lambda: f"INV-{rng.choice(['2025', '2026'])}-{_digits(rng, 4, '0')}",
        "year-seq": lambda: f"{rng.choice(['2025', '2026'])}-{_digits(rng, rng.choice([5, 6]), '0')}",
        "slash": lambda: f"F{rng.choice(['2025', '2026'])}/{_digits(rng, 5, '0')}",
        "digits": lambda: _digits(rng, rng.choice([8, 9, 10]), "14"),
        "zero-padded": lambda: _digits(rng, rng.choice([9, 10]), "0"),
        "dated": lambda: f"RE-2026-{rng.randrange(1, 13):02d}-{_digits(rng, 4, '0')}",
    }
    return [(name, _hash(rng, make())) for name, make in shapes.items() for _ in range(34)]


def _ups(rng: random.Random) -> str:
    shipper = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
    body = shipper + rng.choice(["01", "02", "03", "12", "13"]) + _digits(rng, 7, "0123456789")
    values = [int(ch) if ch.isdigit() else (ord(ch) - 63) % 10 for ch in body]
    total = sum(v if i % 2 == 0 else 2 * v for i, v in enumerate(values))
    full = "1Z" + body + str((10 - total % 10) % 10)
    if rng.random() < 0.3:  # as the carrier's site prints it
        return " ".join([full[:2], full[2:5], full[5:8], full[8:10], full[10:14], full[14:]])
    return full


def trackings(rng: random.Random) -> list[tuple[str, str]]:
    def usps() -> str:
        digits = rng.choice(["9400", "9205", "9270", "9300", "9407"]) + _digits(rng, 18, "0123456789")
        if rng.random() < 0.3:
            digits = "0307" + _digits(rng, 16, "0123456789")  # the older 20-digit label
        return group(digits, [4] * 6, rng.choice([" ", ""]))

    shapes = {
        "ups": lambda: _ups(rng),
        "usps": usps,
        "fedex-12": lambda: group(_digits(rng, 12), [4, 4, 4], rng.choice([" ", "", ""])),
        "fedex-15": lambda: _digits(rng, 15),
        "dhl-10": lambda: _digits(rng, 10),
        "dhl-jd": lambda: "JD" + _digits(rng, 18, "0"),
        "royal-mail": lambda: (
            "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)) + _digits(rng, 9, "0123456789") + "GB"
        ),
    }
    return [(name, _hash(rng, make())) for name, make in shapes.items() for _ in range(30)]


def prices(rng: random.Random) -> list[tuple[str, str]]:
    def amount(big: bool = False) -> int:
        return rng.randrange(1000, 99999) if big else rng.randrange(5, 999)

    shapes = {
        "usd-thousands": lambda: f"${amount(True):,}.{rng.randrange(100):02d}",
        "eur-range": lambda: f"€{(a := amount())}-€{a + rng.randrange(5, 200)}",
        "range-code": lambda: f"{(a := amount())}-{a + rng.randrange(5, 50)} {rng.choice(['USD', 'EUR', 'GBP'])}",
        "spaced-range": lambda: f"${(a := amount(True)):,} - ${a + rng.randrange(100, 5000):,}",
        "eu-decimal": lambda: f"{amount(True):,}".replace(",", ".") + f",{rng.randrange(100):02d} €",
        "space-thousands": lambda: f"{amount(True):,}".replace(",", " ") + f",00 {rng.choice(['€', 'zł', 'kr'])}",
        "gbp": lambda: f"£{amount()}.{rng.randrange(100):02d}",
        "eu-range": lambda: f"{(a := amount())},99-{a + rng.randrange(5, 90)},99 €",
    }
    return [(name, make()) for name, make in shapes.items() for _ in range(25)]


def ranges(rng: random.Random) -> list[tuple[str, str]]:
    def pair(lo: int, hi: int, sep: str) -> str:
        a = rng.randrange(lo, hi)
        return f"{a}{sep}{a + rng.randrange(1, max(2, a // 2 + 2))}"

    shapes = {
        "small": lambda: pair(2, 30, "-"),
        "hundreds": lambda: pair(100, 900, rng.choice(["-", " - ", "–"])),
        "thousands": lambda: pair(1000, 9000, rng.choice(["-", " - ", " to "])),
        "thousands-commas": lambda: f"{(a := rng.randrange(1, 50) * 1000):,}-{a * 2:,}",
        "decimal": lambda: f"{rng.randrange(1, 9)}.5-{rng.randrange(10, 20)}",
    }
    return [(name, make()) for name, make in shapes.items() for _ in range(40)]


MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "October", "Nov", "December"]


def dates(rng: random.Random) -> list[tuple[str, str]]:
    def ymd() -> tuple[int, int, int]:
        return rng.choice([2023, 2024, 2025, 2026]), rng.randrange(1, 13), rng.randrange(1, 29)

    def hm() -> str:
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"

    shapes = {
        "iso": lambda: "{}-{:02d}-{:02d}".format(*ymd()),
        "iso-time": lambda: "{}-{:02d}-{:02d} ".format(*ymd()) + hm() + f":{rng.randrange(60):02d}",
        "iso-t": lambda: "{}-{:02d}-{:02d}T".format(*ymd()) + hm() + ":00Z",
        "compact": lambda: "{}{:02d}{:02d}".format(*ymd()),
        "slash-dmy": lambda: "{2:02d}/{1:02d}/{0}".format(*ymd()),
        "slash-mdy-short": lambda: "{1}/{2}/{0}".format(*ymd()).replace("/202", "/2"),
        "dot-dmy-time": lambda: "{2:02d}.{1:02d}.{0} ".format(*ymd()) + hm(),
        "dash-dmy": lambda: "{2:02d}-{1:02d}-{0}".format(*ymd()),
        "ymd-slash": lambda: "{}/{:02d}/{:02d}".format(*ymd()),
        "words": lambda: (lambda y, m, d: f"{MONTHS[m - 1]} {d}, {y}")(*ymd()),
    }
    return [(name, make()) for name, make in shapes.items() for _ in range(22)]


def versions(rng: random.Random) -> list[tuple[str, str]]:
    r = rng.randrange
    shapes = {
        "semver-v": lambda: f"v{r(1, 12)}.{r(0, 30)}.{r(0, 20)}",
        "semver": lambda: f"{r(1, 12)}.{r(0, 30)}.{r(0, 20)}",
        "ios": lambda: f"iOS {r(14, 19)}.{r(0, 8)}.{r(1, 4)}",
        "windows-build": lambda: f"10.0.{r(19041, 26100)}.{r(1000, 5000)}",
        "browser": lambda: f"{r(110, 140)}.0.{r(5000, 7000)}.{r(10, 200)}",
        "calver": lambda: f"{rng.choice([2024, 2025, 2026])}.{r(1, 13)}.{r(0, 10)}",
        "prerelease": lambda: f"v{r(1, 9)}.{r(0, 20)}.{r(0, 9)}-beta.{r(1, 12)}",
        "kernel": lambda: f"{r(5, 7)}.{r(1, 20)}.0-{r(10, 120)}-generic",
        "android-build": lambda: f"UP1A.{r(230101, 241231)}.{r(1, 40):03d}",
    }
    return [(name, make()) for name, make in shapes.items() for _ in range(24)]


def quantities(rng: random.Random) -> list[tuple[str, str]]:
    r = rng.randrange
    shapes = {
        "commas": lambda: f"{r(1000, 9_999_999):,}",
        "spaces": lambda: f"{r(1000, 99_999_999):,}".replace(",", " "),
        "dots": lambda: f"{r(1000, 9_999_999):,}".replace(",", "."),
        "plain": lambda: str(r(10, 99999)),
        "pack": lambda: f"{r(2, 24)} x {rng.choice([100, 250, 330, 500, 750])} ml",
    }
    return [(name, make()) for name, make in shapes.items() for _ in range(40)]


BUILDERS = {
    "phone": phones, "card": cards, "email": emails, "order": orders, "invoice": invoices,
    "tracking": trackings, "price": prices, "range": ranges, "date": dates, "version": versions,
    "quantity": quantities,
}  # fmt: skip


def build(seed: int) -> list[dict[str, str]]:
    rows = []
    for category, builder in BUILDERS.items():
        rng = random.Random(f"{seed}-{category}")
        items = builder(rng)
        # the split: half of each category to dev, half to test, seeded
        order = list(range(len(items)))
        rng.shuffle(order)
        test = set(order[: len(items) // 2])
        for i, (shape, item) in enumerate(items):
            template = rng.choice(TEMPLATES[category])
            rows.append(
                {
                    "part": "test" if i in test else "dev",
                    "category": category,
                    "shape": shape,
                    "personal": "1" if category in PERSONAL else "0",
                    "token": PERSONAL.get(category, ""),
                    "item": item,
                    "text": template.format(x=item),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "redaction_set.csv")
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args()
    rows = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    print(f"{len(rows)} rows -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
