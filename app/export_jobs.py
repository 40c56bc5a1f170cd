"""Export jobs: one Redis record per distinct export, run by export workers, not the API.

A job's id is a hash of what it exports (world, model, bbox, format, zooms), so the same
request finds the same job, and its file, instead of making another. Creating a job checks
the client's quota of unfinished ones; the record, the quota entry and the stream entry are
written in one atomic step (CREATE_LUA). A finished file expires after
SYNTHTILES_EXPORT_TTL_S (the export worker deletes it); a client may cancel a job, or
delete a finished one and its file, with DELETE /export/{job}.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.exports.base import Export
from core.exports.registry import FORMATS
from core.protocol import Keys

EXPORTER_GROUP = "exporters"
UNFINISHED = ("queued", "running")

# KEYS: job, the client's active set, export stream.
# ARGV: job id, max active per client (0: no limit), record TTL (s), job key prefix, then
# the record's field/value pairs. Returns the existing job's status, 'quota' or 'created'.
CREATE_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if status == 'queued' or status == 'running' or status == 'done' then return status end
if tonumber(ARGV[2]) > 0 then
  local active = 0
  for _, id in ipairs(redis.call('smembers', KEYS[2])) do
    local other = redis.call('hget', ARGV[4] .. id, 'status')
    if other == 'queued' or other == 'running' then
      active = active + 1
    else
      redis.call('srem', KEYS[2], id)
    end
  end
  if active >= tonumber(ARGV[2]) then return 'quota' end
end
redis.call('del', KEYS[1])
redis.call('hset', KEYS[1], unpack(ARGV, 5))
redis.call('expire', KEYS[1], ARGV[3])
redis.call('sadd', KEYS[2], ARGV[1])
redis.call('expire', KEYS[2], ARGV[3])
redis.call('xadd', KEYS[3], '*', 'job', ARGV[1])
return 'created'
"""

# KEYS: job. Marks an unfinished job cancelled (its worker stops at the next unit); returns
# the status before, or false for no such job.
CANCEL_LUA = """
local status = redis.call('hget', KEYS[1], 'status')
if not status then return false end
if status == 'queued' or status == 'running' then
  redis.call('hset', KEYS[1], 'status', 'cancelled', 'error', 'cancelled by the client')
end
return status
"""


def job_id_of(plan: Export) -> str:
    """The same export (world, model, bbox, format, zooms) always has the same id."""
    spec = {
        "world": plan.world.id,
        "model": plan.world.model,
        "format": plan.format,
        "bbox": [round(v, 7) for v in plan.bbox],
        "zooms": plan.zooms,
    }
    if plan.options:  # plain exports keep the ids they always had
        spec["options"] = plan.options
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def file_member(job_id: str, format: str) -> str:
    """The expiry set's member for a job's file: the file's name in the store's exports."""
    return f"{job_id}{FORMATS[format].suffix}"


def file_name(member: str) -> str:
    return f"exports/{member}"


def job_of_member(member: str) -> str:
    return member.split(".", 1)[0]


def decode(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }


class ExportJobs:
    """The job operations on a sync or an asyncio Redis client alike (as QueueProtocol)."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.keys = keys
        self._create = client.register_script(CREATE_LUA)
        self._cancel = client.register_script(CANCEL_LUA)

    def create(
        self,
        job_id: str,
        client: str,
        record: dict[str, str | int | float],
        max_active: int,
        ttl_s: int,
    ) -> Any:
        """'created', 'quota', or the status of the existing identical job."""
        pairs: list[str] = []
        for field, value in {**record, "status": "queued", "client": client}.items():
            pairs += [field, str(value)]
        return self._create(
            keys=[
                self.keys.export_job(job_id),
                self.keys.exports_active(client),
                self.keys.export_stream,
            ],
            args=[job_id, str(max_active), str(ttl_s), self.keys.export_job(""), *pairs],
        )

    def cancel(self, job_id: str) -> Any:
        return self._cancel(keys=[self.keys.export_job(job_id)])
