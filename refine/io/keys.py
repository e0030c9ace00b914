"""Ids that match nowhere: masked examples and the likely cause, for the message that stops a run.

The most common newcomer mistake is two exports that spell the same customer differently (`001848` in
the survey tool, `1848` in the CRM). The message says how many feedback ids matched no customer, shows
two ids from each side in a masked shape that keeps their form but not their value (`+44••••••••23`,
`0018••`), and names the difference that would make them match, when a simple one does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

BULLET = "\u2022"


def mask_id(value: str) -> str:
    """The id's shape without its value: a few leading characters (and the last two of a long id), the rest •.

    "001848" -> "0018••", "1848" -> "18••", "+447700900123" -> "+44••••••••23", "42" -> "4•". A character
    that would break the one-line message (a line break, a direction override) is shown as •; a long id
    is shortened with … ("xxx••••••••••…xx").
    """
    value = "".join(ch if ch.isprintable() else BULLET for ch in value)
    n = len(value)
    if n > 15:
        return value[:3] + BULLET * 10 + "…" + value[-2:]
    if n <= 3:
        return value[:1] + BULLET * (n - 1)
    if n <= 8:
        return value[: n - 2] + BULLET * 2 if n > 4 else value[:2] + BULLET * (n - 2)
    return value[:3] + BULLET * (n - 5) + value[-2:]


def _number_read_as_text(value: str) -> str:
    return re.sub(r"\.0+$", "", value)


def _no_leading_zeros(value: str) -> str:
    return value.lstrip("0") or "0"


def _no_prefix(value: str) -> str:
    return re.sub(r"^[^0-9]*(?=[0-9])", "", value)


def _no_inner_spaces(value: str) -> str:
    return re.sub(r"[\s\-./()]", "", value)


# (the likely cause as the message says it, the normalisation under which such ids match)
CAUSES: list[tuple[str, Callable[[str], str]]] = [
    ("leading zeros (one side has them, the other lost them: read the column as text)", _no_leading_zeros),
    ("a number read as text somewhere (1848.0 against 1848: export the id as text)", _number_read_as_text),
    ("a prefix on one side (CUST-1848 against 1848)", _no_prefix),
    ("spaces or separators inside the ids (+44 7700 900123 against +447700900123)", _no_inner_spaces),
    ("upper / lower case (ab12 against AB12)", str.lower),
]


def likely_causes(unmatched: Sequence[str], known: Sequence[str]) -> list[tuple[str, int]]:
    """(cause, how many unmatched ids it would match) for each cause that would match at least one, best first."""
    found = []
    for cause, normalise in CAUSES:
        targets = {normalise(k) for k in known}
        hits = sum(1 for u in unmatched if normalise(u) in targets)
        if hits:
            found.append((cause, hits))
    return sorted(found, key=lambda pair: -pair[1])


def unmatched_ids_message(
    unmatched: Sequence[str], known: Sequence[str], *, feedback_column: str, customer_column: str
) -> str:
    """The explanation of feedback customer ids (one per row) that match no customer id (`known`)."""
    rows = len(unmatched)
    unmatched = list(dict.fromkeys(unmatched))
    known = list(dict.fromkeys(known))
    shown_feedback = ", ".join(mask_id(v) for v in unmatched[:2])
    shown_customers = ", ".join(mask_id(v) for v in known[:2])
    causes = likely_causes(unmatched, known)
    if causes:
        cause, hits = causes[0]
        likely = f"likely cause: {cause}, which would match {hits} of them"
    else:
        likely = (
            "no simple difference (leading zeros, a prefix, a number read as text, whitespace, case) makes them "
            f"match: check that [feedback] customer_id ({feedback_column!r}) and [customers] customer_id "
            f"({customer_column!r}) hold the same key"
        )
    return (
        f"{rows} feedback rows ({len(unmatched)} distinct customer ids) match no customer id (feedback ids look "
        f"like {shown_feedback}; "
        f"customer ids look like {shown_customers}); {likely}"
    )
