"""The S3 tile store against a real S3 API server (moto's standalone server): write-once,
racing writers, shared export files, and two full stacks sharing one Redis and one bucket."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.s3_store import S3TileStore
from core.settings import StoreSettings
from core.store import FileTileStore, open_store
from tests.s3_server import S3Server, s3_server
from tests.stack import Stack
from tests.test_viewers_seed_export import wait_for_export


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def store(s3: S3Server) -> S3TileStore:
    return S3TileStore(s3.new_bucket(), "deployment-a", client=s3.client())


def test_tiles_are_write_once(store: S3TileStore) -> None:
    assert store.get("w", 3, 1, 2) is None and not store.exists("w", 3, 1, 2)
    assert not store.has_tiles("w")
    assert store.put_if_absent("w", 3, 1, 2, b"first") is True
    assert store.put_if_absent("w", 3, 1, 2, b"second") is False
    assert store.get("w", 3, 1, 2) == b"first" and store.exists("w", 3, 1, 2)
    assert store.has_tiles("w")
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=store.bucket)["Contents"]]
    assert keys == ["deployment-a/w/3/1/2.png"]


def test_racing_writers_publish_exactly_one_tile(store: S3TileStore) -> None:
    results: dict[int, bool] = {}
    start = threading.Barrier(8)

    def write(i: int) -> None:
        start.wait()
        results[i] = store.put_if_absent("w", 9, 100, 200, f"worker {i}".encode())

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, won in results.items() if won]
    assert len(winners) == 1
    assert store.get("w", 9, 100, 200) == f"worker {winners[0]}".encode()


def test_records_and_shared_files(store: S3TileStore, tmp_path: Path) -> None:
    assert store.read_record("w") is None
    store.write_record("w", {"seed": 1})
    assert store.read_record("w") == {"seed": 1}
    assert not store.has_tiles("w")  # a record is not a tile
    source = tmp_path / "export.pmtiles"
    source.write_bytes(b"x" * 100_000)
    store.put_file("exports/abc.pmtiles", source)
    stream, size = store.open_file("exports/abc.pmtiles")
    assert size == 100_000 and stream.read() == source.read_bytes()
    assert store.open_file("exports/missing.pmtiles") is None
    for bad in ("../etc/passwd", "exports/../x", "exports/", "x"):
        with pytest.raises(ValueError, match="invalid store file name"):
            store.open_file(bad)


def test_the_store_url_picks_the_store(tmp_path: Path, s3: S3Server, monkeypatch) -> None:
    assert isinstance(open_store(StoreSettings(store_root=tmp_path)), FileTileStore)
    file_store = open_store(StoreSettings(store_url=f"file://{tmp_path}/tiles"))
    assert isinstance(file_store, FileTileStore) and file_store.root == tmp_path / "tiles"
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    bucket = s3.new_bucket()
    s3_store = open_store(StoreSettings(store_url=f"s3://{bucket}/some/prefix/"))
    assert isinstance(s3_store, S3TileStore)
    assert (s3_store.bucket, s3_store.prefix) == (bucket, "some/prefix/")
    assert s3_store.put_if_absent("w", 0, 0, 0, b"t")  # the endpoint came from AWS_ENDPOINT_URL
    for bad, message in (
        ("ftp://x/y", "use file:///path or s3://bucket/prefix"),
        ("s3:///prefix", "names no bucket"),
        ("file://host/x", "a file URL has no host"),
    ):
        with pytest.raises(ValueError, match=message):
            open_store(StoreSettings(store_url=bad))


@pytest.mark.integration
def test_two_stacks_share_one_redis_and_one_bucket(s3: S3Server, tmp_path: Path) -> None:
    """API + worker twice, one Redis prefix and one bucket, no shared disk: the same tiles
    whichever API is asked and whichever worker made them, and an export started on one API
    is downloaded from the other."""
    bucket = s3.new_bucket()
    prefix = f"synthtiles-test-s3-{uuid.uuid4().hex[:8]}"
    env = {**s3.env, "SYNTHTILES_STORE_URL": f"s3://{bucket}/tiles"}
    stacks = [Stack(tmp_path / name, prefix, **env) for name in ("a", "b")]
    try:
        apis = [stack.start_api() for stack in stacks]
        for name, stack in zip(("wa", "wb"), stacks, strict=True):
            stack.start_worker(name)
        tiles = [(6, x, y) for x in range(30, 34) for y in range(30, 33)]
        first = {
            t: httpx.get(f"{apis[i % 2]}/{t[0]}/{t[1]}/{t[2]}.png", timeout=120)
            for i, t in enumerate(tiles)
        }
        again = {
            t: httpx.get(f"{apis[(i + 1) % 2]}/{t[0]}/{t[1]}/{t[2]}.png", timeout=120)
            for i, t in enumerate(tiles)
        }
        for t in tiles:
            assert first[t].status_code == again[t].status_code == 200
            assert first[t].content == again[t].content
            assert first[t].headers["etag"] == again[t].headers["etag"]
        listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="tiles/testland/6/")
        assert len(listed["Contents"]) >= len(tiles)
        assert not any((stack.tmp / "store").exists() for stack in stacks)  # nothing on disk

        body = {
            "world": "testland",
            "bbox": [-10, -8, 0, 0],
            "format": "mbtiles",
            "minzoom": 4,
            "maxzoom": 5,
        }
        accepted = httpx.post(f"{apis[0]}/export", json=body, timeout=30)
        assert accepted.status_code == 200  # small: answered directly
        job_api = stacks[0].start_api(SYNTHTILES_EXPORT_DIRECT_MAX_PIXELS="1000")
        job = httpx.post(f"{job_api}/export", json=body, timeout=30)
        assert job.status_code == 202, job.text
        status = wait_for_export(f"{apis[1]}{job.json()['status_url']}", timeout_s=120)
        download = httpx.get(f"{apis[1]}{status['file_url']}", timeout=60)
        assert download.status_code == 200
        assert download.content == accepted.content  # the same tiles, the same package
    finally:
        for stack in stacks:
            stack.stop()
