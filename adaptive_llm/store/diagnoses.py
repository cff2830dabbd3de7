"""The diagnoses aggregate: the offline engine's diagnosis of each failed attempt, and one
LLM diagnosis per failure signature."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from .db import Database

__all__ = ["DiagnosisRepository"]


#: job, attempt number, ``Diagnosis.to_dict()``
_Row = tuple[str, int, dict[str, Any]]


class DiagnosisRepository:
    """Diagnoses (``store.diagnoses``): plain dicts, as ``Diagnosis.to_dict()`` gives them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, job: str, number: int, data: dict[str, Any]) -> None:
        self.save_many([(job, number, data)])

    def save_many(self, rows: Sequence[_Row | tuple[str, int, dict[str, Any], str | None]]) -> None:
        """Record diagnoses (job, attempt number, ``Diagnosis.to_dict()``, and optionally
        that dict's ``json.dumps`` text if the caller made it already) in one transaction."""
        now = time.time()
        values = []
        for row in rows:
            job, number, data = row[0], row[1], row[2]
            text = row[3] if len(row) > 3 else None
            values.append(
                (
                    job,
                    number,
                    data.get("engine", "offline"),
                    data["category"],
                    data["signature"],
                    json.dumps(data) if text is None else text,
                    now,
                )
            )
        with self._db.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO diagnoses (job, number, engine, category, signature, data,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def get(self, job: str, number: int, engine: str = "offline") -> dict[str, Any] | None:
        rows = self._db.rows(
            "SELECT data FROM diagnoses WHERE job=? AND number=? AND engine=?",
            (job, number, engine),
        )
        return json.loads(rows[0]["data"]) if rows else None

    def offline(self, engine: str = "offline") -> dict[tuple[str, int], dict[str, Any]]:
        rows = self._db.rows("SELECT job, number, data FROM diagnoses WHERE engine=?", (engine,))
        return {(r["job"], r["number"]): json.loads(r["data"]) for r in rows}

    def llm(self, signature: str) -> dict[str, Any] | None:
        rows = self._db.rows("SELECT * FROM llm_diagnoses WHERE signature=?", (signature,))
        return dict(rows[0]) if rows else None

    def llm_signatures(self, *, answered: bool = False) -> set[str]:
        """Signatures that have a stored LLM diagnosis or the reason it failed (``answered``:
        only those with a diagnosis)."""
        where = " WHERE text IS NOT NULL AND error IS NULL" if answered else ""
        rows = self._db.rows("SELECT signature FROM llm_diagnoses" + where)
        return {str(r["signature"]) for r in rows}

    def save_llm(
        self, signature: str, model: str, job: str, number: int, text: str | None, error: str | None
    ) -> None:
        self._db.run(
            "INSERT OR REPLACE INTO llm_diagnoses (signature, model, job, number, text, error,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (signature, model, job, number, text, error, time.time()),
        )
