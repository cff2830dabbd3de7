"""The offline diagnoses of a run, kept as the garbage collector does not see them.

A cached ``Diagnosis`` is four objects the collector tracks (with its ``Excerpt``, its
``Location`` and its list of spans) for as long as the run lasts. A burst of 10,000 failures
made 40,000 of them at once, enough to bring a full collection over every object of the
kernel, which stalls the notebook's loop for as long as it takes (about 150 ms at 100,000 jobs).
Here each diagnosis is its signature and its JSON text (strings in a tuple, which the collector
stops tracking), and is made again when it is read; the last ``decoded`` read are kept made.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

from ..diagnosis import Diagnosis
from ..diagnosis.model import Location

__all__ = ["Brief", "DiagnosisCache", "Key"]

#: (job name, attempt number)
Key = tuple[str, int]


class Brief(NamedTuple):
    """What a job's view shows of its diagnosis (``RunManager``'s views, the job table and
    its causes), made without decoding the diagnosis."""

    signature: str
    category: str
    summary: str
    error_type: str | None
    location: Location | None
    suggestion: str | None


def dumps(data: dict[str, Any]) -> str:
    """The JSON text of a diagnosis's ``to_dict()``, as the store and the cache keep it (a
    value JSON has no type for, e.g. a ``Path`` a caller gave, as its text)."""
    return json.dumps(data, default=str)


def encode(diagnosis: Diagnosis) -> str:
    """The JSON text of a diagnosis (see ``dumps``)."""
    return dumps(diagnosis.to_dict())


class DiagnosisCache:
    """Diagnoses by (job, attempt number): ``get`` gives an equal ``Diagnosis`` each time (the
    same object while it is among the last ``decoded`` read)."""

    __slots__ = ("_decoded", "_entries", "_size")

    def __init__(self, decoded: int = 128) -> None:
        #: key -> (signature, JSON text, and what ``brief`` gives: category, summary, error
        #: type, location file and line, suggestion), strings and numbers only
        self._entries: dict[Key, tuple[str, str, str, str, str | None, str | None, int, str | None]]
        self._entries = {}
        self._decoded: OrderedDict[Key, Diagnosis] = OrderedDict()
        self._size = decoded

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._entries)

    def get(self, key: Key) -> Diagnosis | None:
        made = self._decoded.get(key)
        if made is not None:
            self._decoded.move_to_end(key)
            return made
        entry = self._entries.get(key)
        if entry is None:
            return None
        made = Diagnosis.from_dict(json.loads(entry[1]))
        self._decoded[key] = made
        if len(self._decoded) > self._size:
            self._decoded.popitem(last=False)
        return made

    def brief(self, key: Key) -> Brief | None:
        """What a view shows of the diagnosis, without decoding it (a table of 10,000 failed
        jobs makes 10,000 of these each time it is drawn: decoding them took 0.1 s)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        signature, _, category, summary, error_type, file, line, suggestion = entry
        location = Location(file, line) if file is not None else None
        return Brief(signature, category, summary, error_type, location, suggestion)

    def signature(self, key: Key) -> str | None:
        """The diagnosis's failure signature, without making the diagnosis."""
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: Key, diagnosis: Diagnosis, text: str | None = None) -> None:
        """Keep ``diagnosis`` (``text``: its JSON text, if already made). Not kept made: a
        burst would keep its last ``decoded`` diagnoses alive long enough to be promoted to
        the collector's oldest generation, which is what this cache avoids."""
        loc = diagnosis.location
        self._entries[key] = (
            diagnosis.signature,
            encode(diagnosis) if text is None else text,
            diagnosis.category,
            diagnosis.summary,
            diagnosis.error_type,
            loc.file if loc is not None else None,
            loc.line if loc is not None else 0,
            diagnosis.suggestion,
        )
        self._decoded.pop(key, None)

    def setdefault(self, key: Key, diagnosis: Diagnosis) -> None:
        if key not in self._entries:
            self.put(key, diagnosis)
