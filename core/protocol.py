"""The Redis protocol between the API and the workers: key names, job fields, notifications.

Redis is the cache, the queue, the locks and the notification bus (DESIGN §2):

- ``{p}:tile:{world}:{model}:{z}:{x}:{y}``  hash {png, etag}: the tile cache (expiring keys).
- ``{p}:jobs:interactive`` / ``{p}:jobs:seeding``  streams, consumer group ``workers``.
- ``{p}:jobs:dead``  stream of jobs that failed ``max_attempts`` times.
- ``{p}:jobs:retry``  sorted set of failed jobs waiting out their backoff, by due time.
- ``{p}:job:{unit}``  "a job for this unit is queued" marker (SET NX EX), value = priority.
- ``{p}:lease:{unit}``  "a worker is generating this unit now" lease (SET NX PX).
- ``{p}:done``  pub/sub channel; one JSON message per finished or failed unit.
- ``{p}:wanted:{unit}``  "someone waits for this unit" (expiring; refreshed while they wait).
- ``{p}:worker:{id}``  liveness key of each worker (expires unless renewed).
- ``{p}:generations:{world}``  hash unit -> times generated (only with record_generations).
- ``{p}:export:{job}``  hash: an export job's request, status and progress.
- ``{p}:jobs:export``  stream of export jobs, consumer group ``exporters``.
- ``{p}:exports:active:{client}``  set of a client's unfinished export jobs (its quota).
- ``{p}:exports:expiry``  sorted set job -> when its file expires.

This module is the submitting side and the keys; the consuming side (read, re-claim, ack,
retry, dead-letter, leases) is core/consumer.py, shared by the tile and export workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.units import UnitKey

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

    @property
    def retry(self) -> str:
        return f"{self.prefix}:jobs:retry"

    def job(self, unit: UnitKey) -> str:
        return f"{self.prefix}:job:{unit}"

    def lease(self, unit: UnitKey) -> str:
        return f"{self.prefix}:lease:{unit}"

    @property
    def done_channel(self) -> str:
        return f"{self.prefix}:done"

    def wanted(self, unit: UnitKey | str) -> str:
        return f"{self.prefix}:wanted:{unit}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    def generations(self, world: str) -> str:
        return f"{self.prefix}:generations:{world}"

    def export_job(self, job_id: str) -> str:
        return f"{self.prefix}:export:{job_id}"

    @property
    def export_stream(self) -> str:
        return f"{self.prefix}:jobs:export"

    def exports_active(self, client: str) -> str:
        return f"{self.prefix}:exports:active:{client}"

    @property
    def export_expiry(self) -> str:
        return f"{self.prefix}:exports:expiry"


# Queue a job for a unit unless one is queued already, in one atomic step. A request at
# interactive priority for a unit queued only for seeding queues it again at interactive
# priority (the worker skips whichever copy comes second). The unit is first marked wanted
# for ARGV[4] seconds (never shortening a longer mark), so a worker never drops a job its
# submitter is about to wait for. Returns 1 when it queued a job.
# KEYS: marker, stream of ARGV[1], wanted; ARGV: priority, marker TTL (s), unit, wanted (s).
SUBMIT_LUA = """
if redis.call('ttl', KEYS[3]) < tonumber(ARGV[4]) then
  redis.call('set', KEYS[3], '1', 'EX', ARGV[4])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('xadd', KEYS[2], '*', 'unit', ARGV[3], 'attempt', '0')
  return 1
end
if ARGV[1] == 'interactive' and redis.call('get', KEYS[1]) == 'seeding' then
  redis.call('set', KEYS[1], ARGV[1], 'XX', 'KEEPTTL')
  redis.call('xadd', KEYS[2], '*', 'unit', ARGV[3], 'attempt', '0')
  return 1
end
return 0
"""

# Create every job stream and its consumer group (idempotent). KEYS: the streams.
ENSURE_GROUPS_LUA = """
for _, stream in ipairs(KEYS) do
  local ok, err = pcall(redis.call, 'xgroup', 'create', stream, ARGV[1], '0', 'MKSTREAM')
  -- The error is a table {err = ...} on Redis 7, a string before.
  local message = type(err) == 'table' and err.err or tostring(err)
  if not ok and not string.find(message, 'BUSYGROUP') then return redis.error_reply(message) end
end
return #KEYS
"""


# (waiting, taken) per stream, in KEYS order. Finished jobs are deleted, so XLEN counts
# unfinished ones; a stream without a group yet has nothing taken.
STATS_LUA = """
local out = {}
for _, stream in ipairs(KEYS) do
  local length = redis.call('xlen', stream)
  local taken = 0
  if length > 0 then
    local ok, pending = pcall(redis.call, 'xpending', stream, ARGV[1])
    if ok then taken = pending[1] end
  end
  table.insert(out, math.max(0, length - taken))
  table.insert(out, taken)
end
return out
"""


# How long a "wanted" mark lasts: waiters refresh it every second or so, and a job whose
# waiters all left becomes droppable this long after (a placeholder request, which does
# not wait, marks its unit for PLACEHOLDER_WANT_TTL_S: its viewer asks again meanwhile).
WANT_TTL_S = 3
PLACEHOLDER_WANT_TTL_S = 30

# Mark units as wanted for ARGV[1] seconds, never shortening a longer mark. KEYS: wanted keys.
WANT_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('ttl', key) < tonumber(ARGV[1]) then
    redis.call('set', key, '1', 'EX', ARGV[1])
  end
end
return #KEYS
"""

# Drop an interactive job that nobody waits for any more, while the stream holds more than
# ARGV[3] jobs (a flood whose clients left): ack and delete it and its marker. A submit
# marks its unit wanted in the same step, so a job someone waits for is never dropped
# under them, and a submit after a drop queues the unit again. KEYS: wanted, marker, stream;
# ARGV: group, entry id, depth. Returns 1 when dropped.
DROP_UNWANTED_LUA = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
if redis.call('xlen', KEYS[3]) <= tonumber(ARGV[3]) then return 0 end
redis.call('xack', KEYS[3], ARGV[1], ARGV[2])
redis.call('xdel', KEYS[3], ARGV[2])
if redis.call('get', KEYS[2]) == 'interactive' then redis.call('del', KEYS[2]) end
return 1
"""


# Delete up to ARGV[2] not-yet-delivered jobs of a stream that nobody wants any more (their
# clients left), with their markers: room in a full queue for clients still waiting.
# KEYS: the stream; ARGV: group, how many entries to look at, key prefix. Returns how many.
SWEEP_UNWANTED_LUA = """
local last = '0-0'
for _, group in ipairs(redis.call('xinfo', 'groups', KEYS[1])) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if fields['name'] == ARGV[1] then last = fields['last-delivered-id'] end
end
local dropped = 0
for _, entry in ipairs(redis.call('xrange', KEYS[1], '(' .. last, '+', 'COUNT', ARGV[2])) do
  local fields = {}
  for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
  local unit = fields['unit']
  if unit and redis.call('exists', ARGV[3] .. ':wanted:' .. unit) == 0 then
    redis.call('xdel', KEYS[1], entry[1])
    local marker = ARGV[3] .. ':job:' .. unit
    if redis.call('get', marker) == 'interactive' then redis.call('del', marker) end
    dropped = dropped + 1
  end
end
return dropped
"""


# Put back into their streams the failed jobs whose backoff is over (members are
# "attempt|stream|unit"). KEYS: the retry set; ARGV: now. Returns how many.
RELEASE_RETRIES_LUA = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  local attempt, stream, unit = string.match(member, '^(%d+)|([^|]+)|(.+)$')
  if stream then redis.call('xadd', stream, '*', 'unit', unit, 'attempt', attempt) end
  redis.call('zrem', KEYS[1], member)
end
return #due
"""


class QueueProtocol:
    """The job queue's operations as Lua scripts, on a sync or an asyncio Redis client alike:
    each call returns what the client's commands return (a value, or an awaitable), as
    redis-py's own commands do. The API, seeding, exports and workers all submit here."""

    def __init__(self, client: Any, keys: Keys, job_ttl_s: int) -> None:
        self.keys = keys
        self.job_ttl_s = job_ttl_s
        self._submit = client.register_script(SUBMIT_LUA)
        self._ensure_groups = client.register_script(ENSURE_GROUPS_LUA)
        self._stats = client.register_script(STATS_LUA)
        self._want = client.register_script(WANT_LUA)
        self._drop_unwanted = client.register_script(DROP_UNWANTED_LUA)
        self._sweep_unwanted = client.register_script(SWEEP_UNWANTED_LUA)
        self._release_retries = client.register_script(RELEASE_RETRIES_LUA)
        self._streams = [keys.stream(p) for p in PRIORITY_ORDER]

    def submit(
        self,
        unit: UnitKey,
        priority: Priority = Priority.INTERACTIVE,
        wanted_for_s: int = WANT_TTL_S,
    ) -> Any:
        """Mark ``unit`` wanted for ``wanted_for_s`` and queue a job for it: 1 when this
        call queued one, 0 when one was queued already."""
        return self._submit(
            keys=[self.keys.job(unit), self.keys.stream(priority), self.keys.wanted(unit)],
            args=[priority.value, str(self.job_ttl_s), str(unit), str(wanted_for_s)],
        )

    def want(self, units: Iterable[UnitKey | str], ttl_s: int = WANT_TTL_S) -> Any:
        """Mark ``units`` as waited for during ``ttl_s`` (refresh it while waiting)."""
        return self._want(keys=[self.keys.wanted(u) for u in units], args=[str(ttl_s)])

    def drop_unwanted(self, stream: str, entry_id: str, unit: UnitKey, above: int) -> Any:
        """1 when the job was dropped (see DROP_UNWANTED_LUA)."""
        return self._drop_unwanted(
            keys=[self.keys.wanted(unit), self.keys.job(unit), stream],
            args=[CONSUMER_GROUP, entry_id, str(above)],
        )

    def sweep_unwanted(self, scan: int = 1000) -> Any:
        """How many queued interactive jobs nobody waits for were deleted (at most ``scan``
        looked at): a full queue makes room this way before it refuses anyone."""
        return self._sweep_unwanted(
            keys=[self.keys.stream(Priority.INTERACTIVE)],
            args=[CONSUMER_GROUP, str(scan), self.keys.prefix],
        )

    def release_due_retries(self, now: float) -> Any:
        """Re-queue failed jobs whose backoff ended by ``now``; how many."""
        return self._release_retries(keys=[self.keys.retry], args=[str(now)])

    def ensure_groups(self) -> Any:
        return self._ensure_groups(keys=self._streams, args=[CONSUMER_GROUP])

    def stats(self) -> Any:
        """Raw figures; ``parse_stats`` turns them into (waiting, in progress) per priority."""
        return self._stats(keys=self._streams, args=[CONSUMER_GROUP])


def parse_stats(raw: list[int]) -> tuple[dict[str, int], dict[str, int]]:
    waiting = {p.value: int(raw[2 * i]) for i, p in enumerate(PRIORITY_ORDER)}
    in_progress = {p.value: int(raw[2 * i + 1]) for i, p in enumerate(PRIORITY_ORDER)}
    return waiting, in_progress


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
