"""Tiles in an S3 bucket (AWS, MinIO, Ceph, ...): ``{prefix}{world}/{z}/{x}/{y}.png``.

Write-once by a conditional put (``If-None-Match: *``): of two workers racing on a unit,
one write lands and the other gets 412 and reads the winner's tile, so a published tile is
never replaced. The endpoint and credentials come from the usual AWS variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), as boto3 reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.store import TileStore, check_file_name

_MISSING = {"404", "NoSuchKey", "NotFound"}
# 412: the object exists; 409: another conditional write to the key is in flight.
_ALREADY_WRITTEN = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3TileStore(TileStore):
    def __init__(self, bucket: str, prefix: str = "", client=None) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"})
        )

    def key(self, world: str, z: int, x: int, y: int) -> str:
        return f"{self.prefix}{world}/{z}/{x}/{y}.png"

    def _get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise

    def get(self, world: str, z: int, x: int, y: int) -> bytes | None:
        return self._get(self.key(world, z, x, y))

    def exists(self, world: str, z: int, x: int, y: int) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(world, z, x, y))
        except ClientError as error:
            if _code(error) in _MISSING:
                return False
            raise
        return True

    def put_if_absent(self, world: str, z: int, x: int, y: int, data: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(world, z, x, y),
                Body=data,
                ContentType="image/png",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if _code(error) in _ALREADY_WRITTEN:
                return False
            raise
        return True

    def _record_key(self, world: str) -> str:
        return f"{self.prefix}{world}/.world.json"

    def read_record(self, world: str) -> dict | None:
        data = self._get(self._record_key(world))
        if data is None:
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            return None

    def write_record(self, world: str, record: dict) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._record_key(world),
            Body=json.dumps(record, sort_keys=True).encode(),
            ContentType="application/json",
        )

    def has_tiles(self, world: str) -> bool:
        listing = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=f"{self.prefix}{world}/", MaxKeys=2
        )
        return any(not o["Key"].endswith("/.world.json") for o in listing.get("Contents", []))

    def _file_key(self, name: str) -> str:
        folder, _, file = check_file_name(name).partition("/")
        return f"{self.prefix}.{folder}/{file}"

    def put_file(self, name: str, source: Path) -> None:
        # Multipart for large files; an object appears whole or not at all.
        self.client.upload_file(str(source), self.bucket, self._file_key(name))

    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._file_key(name))
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise
        return answer["Body"], int(answer["ContentLength"])

    def delete_file(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._file_key(name))
