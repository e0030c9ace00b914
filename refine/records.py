"""Typed result records that still answer dict-style reads, with a warning, for one minor version.

Until 0.2 ``run_cycle`` returned proposals and topics as dicts (``result.proposals[0]["rule"]``). From
0.3 they are typed records (``result.proposals[0].rule``); a notebook written for 0.2 keeps working:
reading a record like a dict gives the value its JSON form has under that key and warns once per
place (`RecordDictAccessWarning`, a DeprecationWarning). Dict-style reads go in 0.4.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

REMOVED_IN = "0.4.0"


class RecordDictAccessWarning(DeprecationWarning):
    """A typed result record was read like the dict it was before refine 0.3."""


class DictAccess:
    """Mixin: ``record["key"]``, ``record.get("key")``, ``"key" in record``, ``keys()``, ``items()``.

    Each reads the record's JSON form (`_json_form`, its ``to_json`` unless a class says otherwise) and
    warns that the attribute is the way to read it now.
    """

    def _json_form(self) -> dict[str, Any]:
        return self.to_json()  # type: ignore[attr-defined]

    def _warn(self, key: object) -> None:
        name = type(self).__name__
        warnings.warn(
            f"reading a {name} like a dict ({name.lower()}[{key!r}]) is deprecated since refine 0.3 and goes in "
            f"{REMOVED_IN}: read the attribute ({name.lower()}.{key}) or call .to_json()",
            RecordDictAccessWarning,
            stacklevel=3,
        )

    def __getitem__(self, key: str) -> Any:
        self._warn(key)
        return self._json_form()[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._warn(key)
        return self._json_form().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._warn(key)
        return key in self._json_form()

    def keys(self) -> Iterator[str]:
        self._warn("keys")
        return iter(self._json_form().keys())

    def items(self) -> Iterator[tuple[str, Any]]:
        self._warn("items")
        return iter(self._json_form().items())
