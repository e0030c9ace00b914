"""Entity-like tokens: who or where a comment is about (handles, brands, places, people), not what happened.

Left in, they pull comments together by the company or city they name ("united / ua", "southwest /
companion") instead of by the complaint. They are masked before the sentences are embedded for
clustering and before they are named: @handles, #hashtags, URLs and e-mail addresses always; a
word (or acronym) when, across the month's texts, it is capitalised in the middle of sentences at
least `PROPER_RATIO` of the times it occurs there, at least `PROPER_MIN` times, wherever it appears
and however it is written there ("United", "JetBlue", "Denver", "LAX", and "lax" beside them:
people write names in lower case about as often as capitalised). Acronyms that name things in
feedback (ATM, PIN, SMS: `KEPT_ACRONYMS`) are kept. Markup (HTML tags, script and style blocks,
character references, code in backticks) and mail boilerplate ("Sent from my iPhone") are removed
with them (`strip_markup`): they form themes of their own otherwise ("Script alert"), and a signature's
"Sent" or "Samsung" reads as a name; quotes keep the text as written.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from refine.io.privacy import REDACTION_TOKENS

PROPER_RATIO = 0.5
PROPER_MIN = 3
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w#&])#[A-Za-z]\w*")
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?(</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.DOTALL)
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.DOTALL)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# a mail signature ("Sent from my iPhone", "Get Outlook for iOS"): written so by the phone, at the end of the
# comment (ingest joins its lines). Not the customer's words: left in, "Sent" (capitalised after a comment with
# no full stop) reads as a name, "Samsung" / "Galaxy" as things the comments mention, and the signatures form a
# theme of their own. Only as the phone writes it and only at the end: "I sent from my account" is left alone
# and only where what follows names a device or an app as a maker writes it, with a capital ("iPhone", "Samsung
# Galaxy", "iOS"): "Sent from my home address." is the customer's sentence
SIGNATURE = re.compile(
    r"\b(?:Sent from my|Sent from (?:Yahoo )?Mail for|Get Outlook for) (?=[\w-]*[A-Z])[\w-]+(?: [\w-]+){0,2}[.!]?\s*$"
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’&-]*[A-Za-z]|[A-Za-z]")
_SPACE = re.compile(r"\s+")
# what redaction left in place of a number or address ("[PHONE]"): no word of the text, never a name or a facet
_REDACTED = re.compile("|".join(re.escape(t) for t in REDACTION_TOKENS))
# capitalised mid-sentence in ordinary writing, yet no one's name
_COMMON_CAPS = {
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "tv", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "english", "christmas", "xmas", "mr", "mrs", "ms", "dr",
}  # fmt: skip
# capitalised mid-sentence yet never a name, even of a theme (days, months and holidays are: "Friday")
_PRONOUNS = {"i", "i'm", "i've", "i'd", "i'll", "ok", "okay"}
# acronyms that name things in feedback, not companies or places
KEPT_ACRONYMS = {
    "atm", "pin", "sms", "id", "otp", "cvv", "cvc", "faq", "app", "api", "pdf", "pc", "gps", "usb", "vat", "iban",
    "kyc", "eta", "asap", "dm", "pm", "am", "fyi", "lol", "omg", "wtf", "imo", "ceo", "hr", "vip", "nfc", "qr",
    "sim", "wifi", "pos", "apr", "ach", "eu", "uk", "us", "usa", "usd", "eur", "gbp", "diy", "xs", "xl", "xxl",
}  # fmt: skip


def strip_markup(text: str) -> str:
    """The text without HTML tags, script and style blocks, character references, code in backticks or mail
    signature at its end (`SIGNATURE`: "Sent from my iPhone")."""
    text = SIGNATURE.sub(" ", str(text or ""))
    if "<" in text or "`" in text or "&" in text:
        text = _CODE.sub(" ", _TAG.sub(" ", _SCRIPT.sub(" ", text)))
        text = html.unescape(text)
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))  # escaped markup ("&lt;b&gt;") unescaped above
    return text


def _starts_sentence(text: str, start: int) -> bool:
    """Whether the word at `start` opens a sentence or a line (capitalised there anyway, so no sign of a name).
    Spaces and tabs before it are skipped, a line break is not: it starts a line itself."""
    before = text[max(0, start - 4) : start].rstrip(" \t")
    return not before or before[-1] in '.!?:;"“(\n\r-'


def entity_words(texts: Sequence[str]) -> set[str]:
    """Lower-cased words that the texts write as proper names (see the module docstring)."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        text = _HASHTAG.sub(
            " ", _HANDLE.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", _REDACTED.sub(" ", strip_markup(text)))))
        )
        for m in _WORD.finditer(text):
            word = m.group(0)
            key = word.lower()
            if key in _COMMON_CAPS or key in KEPT_ACRONYMS:
                continue
            if _starts_sentence(text, m.start()):
                continue  # sentence-initial: capitalised anyway
            if word[0].isupper() or any(c.isupper() for c in word[1:]):
                capital[key] += 1
            else:
                lower[key] += 1
    return {
        w for w, c in capital.items() if c >= PROPER_MIN and c / (c + lower.get(w, 0)) >= PROPER_RATIO and len(w) > 1
    }


_NAME_TOKEN = re.compile(r"[@#]?[A-Za-z][A-Za-z0-9'’&-]*")
_POSSESSIVE = re.compile(r"['’]s?$")


def name_words(texts: Sequence[str]) -> set[str]:
    """Lower-cased words a theme is never named after on their own: those the texts write as @handle or
    #hashtag at least a third of the times they occur, or capitalised inside sentences at least half the
    times they occur there (at least PROPER_MIN times), acronyms and words with digits included ("UK",
    "S7"), or, however rarely seen, capitalised every time inside a sentence and never in lower case
    anywhere ("Gaston" once); a name's plural or possessive too ("Ronaldos", "Ronaldo's"). Wider than `entity_words`, which decides what is masked everywhere: a name only needs
    another phrase."""
    tagged: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    capital: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    lower: set[str] = set()  # written in lower case somewhere, sentence starts and tags included
    for text in texts:
        text = _URL.sub(" ", _EMAIL.sub(" ", _REDACTED.sub(" ", strip_markup(text))))
        for m in _NAME_TOKEN.finditer(text):
            word = _POSSESSIVE.sub("", m.group(0).lstrip("@#"))
            key = word.lower()
            seen[key] += 1
            if word.islower():
                lower.add(key)
            if m.group(0)[0] in "@#":
                tagged[key] += 1
                continue
            if key in _PRONOUNS or _starts_sentence(text, m.start()):
                continue
            inside[key] += 1
            capital[key] += word[0].isupper()
    out = {w for w, c in tagged.items() if c >= seen[w] / 3}
    out |= {w for w, c in capital.items() if inside[w] >= PROPER_MIN and c / inside[w] >= 0.5}
    # a word seen once or twice is a name when it is capitalised every time inside a sentence and
    # never written in lower case ("Gaston", "Rory"); so is a name's plural or possessive ("Ronaldos")
    out |= {w for w, c in capital.items() if c == inside[w] and w not in lower and len(w) > 2}
    return out | {w for w in seen if len(w) > 3 and w.endswith("s") and w[:-1] in out}


def mask_entities(text: str, entities: set[str]) -> str:
    """The text without markup, handles, hashtags, URLs, e-mail addresses and the given entity words."""
    text = _URL.sub(" ", strip_markup(text))
    text = _EMAIL.sub(" ", text)
    text = _HASHTAG.sub(" ", _HANDLE.sub(" ", text))
    if entities:
        text = _WORD.sub(lambda m: " " if m.group(0).lower() in entities else m.group(0), text)
    return _SPACE.sub(" ", text).strip(" ,")


def entity_kind_name(texts: Sequence[str], masked: Sequence[str]) -> str:
    """What texts that say nothing but entities are about, as a theme name: "Mentions of accounts"
    (@handles), "Hashtags", "Links" (URLs, e-mail addresses) or "Mentions of names" (brands, places,
    people, masked as `masked` shows), whichever the texts hold most; never the entity itself. "" when
    masking took nothing out of them."""
    found: Counter[str] = Counter()
    for text, m in zip(texts, masked):
        text = strip_markup(text)
        found["Links"] += len(_URL.findall(text)) + len(_EMAIL.findall(text))
        found["Mentions of accounts"] += len(_HANDLE.findall(_EMAIL.sub(" ", text)))
        found["Hashtags"] += len(_HASHTAG.findall(text))
        found["Mentions of names"] += len(_WORD.findall(text)) > len(_WORD.findall(m))
    kind, n = max(sorted(found.items()), key=lambda x: x[1])
    return kind if n else ""


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """`phrase` (lower-case words) as written anywhere in a text: any case, any spacing or punctuation
    between its words, whole words only ("frying pan" in "The Frying-pan is cheap")."""
    words = [re.escape(w) for w in phrase.split()]
    return re.compile(r"(?<![A-Za-z0-9])" + r"[\s\-_]+".join(words) + r"(?![A-Za-z0-9])", re.IGNORECASE)


def mask_phrase(text: str, pattern: re.Pattern[str]) -> str:
    """The text with every occurrence of `pattern` taken out (spaces tidied)."""
    return _SPACE.sub(" ", pattern.sub(" ", text)).strip(" ,")


_NEXT_WORD = re.compile(r"[ \t]+([A-Za-z][A-Za-z'’&-]*[A-Za-z])\b")


def _name_part(word: str, names: set[str]) -> bool:
    """Whether `word`, right after a capitalised facet word, is part of its name: an acronym (ID, TV) or
    another facet word capitalised ("Galaxy" after "Samsung")."""
    if word.lower() in names:  # another facet word: part of the name only capitalised as a word ("Samsung Galaxy"),
        return word[0].isupper() and not word.isupper()  # not an acronym that is a facet itself ("JetBlue LAX")
    return word.isupper() and 2 <= len(word) <= 4


def facet_counts(
    texts: Sequence[str],
    facets: Sequence[str],
    top: int = 5,
    least: int = 2,
    forms: Mapping[str, str] | None = None,
) -> list[tuple[str, int]]:
    """The `facets` (lower-case words or phrases: products, places, names) that `texts` mention, each with
    the number of texts that do, at least `least`, most first (ties alphabetical), at most `top`;
    written as `forms` says (`facet_forms` over the whole month: one written form per facet in every
    theme, not "UPS" in one and "ups" in another), else as these texts write them (`_form`)."""
    out = []
    for key, written in _written(texts, facets).items():
        n = sum(written.values())
        if n >= least:
            out.append((_month_form(key, written, forms) if forms and key in forms else _form(key, written), n))
    return sorted(out, key=lambda x: (-x[1], x[0].lower()))[:top]


def _month_form(key: str, written: Counter[str], forms: Mapping[str, str]) -> str:
    """The month's form of a facet where these texts write it (in any case); its spelling of the facet word
    alone where they write only that ("Samsung" in a theme of Samsung TVs when the month writes "Samsung
    Galaxy"); else how these texts write it."""
    month = forms[key]
    said = {form.lower() for form in written}
    if month.lower() in said:
        return month
    if key in said and month.lower().startswith(key):
        return month[: len(key)]
    return _form(key, written)


def facet_forms(texts: Sequence[str], facets: Sequence[str]) -> dict[str, str]:
    """Each facet's one written form over `texts` (all the month's sentences): `_form` of how they write it."""
    return {key: _form(key, written) for key, written in _written(texts, facets).items()}


def _form(key: str, written: Counter[str]) -> str:
    """The form texts write a facet in most often; lower case where they write it so at least a third of
    the time; with the word that completes the name where they write one ("Face ID", "Samsung Galaxy")."""
    n = sum(written.values())
    return key if written[key] * 3 >= n else max(sorted(written.items()), key=lambda x: x[1])[0]


def _written(texts: Sequence[str], facets: Sequence[str]) -> dict[str, Counter[str]]:
    """For each facet `texts` mention: how they write it, counted once per text (`_name_part` completes a
    capitalised name with its second word)."""
    words = {f for f in facets if " " not in f}
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        text = _REDACTED.sub(" ", SIGNATURE.sub(" ", text))
        seen: dict[str, str] = {}
        taken = 0  # a name's second word ("Galaxy" of "Samsung Galaxy") is no facet of its own there
        for m in _WORD.finditer(text):
            key = m.group(0).lower()
            if key in words and key not in seen and m.start() >= taken:
                seen[key] = m.group(0)
                after = _NEXT_WORD.match(text, m.end())
                if after and m.group(0)[0].isupper() and _name_part(after.group(1), words):
                    seen[key] = f"{m.group(0)} {after.group(1)}"  # "Face ID", not "Face"
                    taken = after.end()
        lowered = text.lower()
        for facet in facets:
            if " " in facet and facet.split()[0] in lowered:
                found = phrase_pattern(facet).search(text)
                if found:
                    seen[facet] = _SPACE.sub(" ", re.sub(r"[-_]", " ", found.group(0)))
        for key, form in seen.items():
            forms.setdefault(key, Counter())[form] += 1
    return forms
