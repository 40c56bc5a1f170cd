"""The Redis protocol between the API and the workers: key names, job fields, notifications.

Redis is the cache, the queue, the locks and the notification bus (DESIGN §2):

- ``{p}:tile:{world}:{model}:{z}:{x}:{y}``  hash {png, etag}: the tile cache (expiring keys).
- ``{p}:jobs:interactive`` / ``{p}:jobs:seeding``  streams, consumer group ``workers``.
- ``{p}:jobs:dead``  stream of jobs that failed ``max_attempts`` times.
- ``{p}:job:{unit}``  "a job for this unit is queued" marker (SET NX EX), value = priority.
- ``{p}:lease:{unit}``  "a worker is generating this unit now" lease (SET NX PX).
- ``{p}:done``  pub/sub channel; one JSON message per finished or failed unit.
- ``{p}:worker:{id}``  liveness key of each worker (expires unless renewed).
- ``{p}:generations:{world}``  hash unit -> times generated (only with record_generations).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from worker.units import UnitKey

CONSUMER_GROUP = "workers"


class Priority(StrEnum):
    INTERACTIVE = "interactive"
    SEEDING = "seeding"


# Workers read streams in this order: interactive requests always go first.
PRIORITY_ORDER = (Priority.INTERACTIVE, Priority.SEEDING)


@dataclass(frozen=True)
class Keys:
    prefix: str

    def tile(self, world: str, model: str, z: int, x: int, y: int) -> str:
        return f"{self.prefix}:tile:{world}:{model}:{z}:{x}:{y}"

    def stream(self, priority: Priority) -> str:
        return f"{self.prefix}:jobs:{priority.value}"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}:jobs:dead"

    def job(self, unit: UnitKey) -> str:
        return f"{self.prefix}:job:{unit}"

    def lease(self, unit: UnitKey) -> str:
        return f"{self.prefix}:lease:{unit}"

    @property
    def done_channel(self) -> str:
        return f"{self.prefix}:done"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    def generations(self, world: str) -> str:
        return f"{self.prefix}:generations:{world}"


def job_fields(unit: UnitKey, attempt: int = 0) -> dict[str, str]:
    return {"unit": str(unit), "attempt": str(attempt)}


@dataclass(frozen=True)
class Job:
    stream: str
    entry_id: str
    unit: UnitKey
    attempt: int  # failures already recorded for this job (crashes counted by delivery count)

    @classmethod
    def from_entry(cls, stream: str, entry_id: str, fields: dict[str, str]) -> Job:
        return cls(stream, entry_id, UnitKey.parse(fields["unit"]), int(fields.get("attempt", 0)))


def done_message(unit: UnitKey, ok: bool, error: str | None = None) -> str:
    return json.dumps({"unit": str(unit), "ok": ok, "error": error})


def parse_done_message(data: str | bytes) -> tuple[str, bool, str | None]:
    message = json.loads(data)
    return message["unit"], bool(message["ok"]), message.get("error")


def etag_of(png: bytes) -> str:
    """Strong ETag: a content hash, so the same tile has the same ETag in every deployment."""
    return '"' + hashlib.sha256(png).hexdigest()[:32] + '"'
