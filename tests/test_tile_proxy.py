"""The optional caching reverse proxy (k8s/components/tile-cache/nginx-tile-cache.conf, used
by docker/compose.yaml's tile-cache profile and the Kustomize component): a real nginx (the
Debian binary) in front of a real API and worker, with the configuration the images use.

It serves the API's bytes and headers, answers HEAD and 304 from its copy, and never stores
what the API marks no-store: a placeholder, a 503 "still generating", an error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.stack import ROOT, Stack, free_port
from tests.test_serving import tile_at

pytestmark = pytest.mark.integration

COMPONENT = ROOT / "k8s" / "components" / "tile-cache"
TEMPLATE = COMPONENT / "nginx-tile-cache.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# The headers a tile is served with, which the proxy must pass on unchanged.
TILE_HEADERS = ("etag", "cache-control", "content-type", "content-length", "x-synthtiles-source")

MAIN_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
daemon off;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  include {tmp}/tile-cache.conf;
}}
"""


def render(template: str, values: dict[str, str]) -> str:
    """What the nginx image's envsubst does with /etc/nginx/templates/*.template."""
    rendered = re.sub(r"\$\{(TILE_CACHE_\w+)\}", lambda m: values[m.group(1)], template)
    assert "${" not in rendered
    return rendered


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Not under pytest's tmp_path (mode 0700): nginx's workers run as an unprivileged user.
        self.tmp = tmp = Path(tempfile.mkdtemp(prefix="synthtiles-tile-cache-"))
        tmp.chmod(0o755)
        cache = tmp / "cache"
        cache.mkdir()
        cache.chmod(0o777)
        values = {
            "TILE_CACHE_UPSTREAM": upstream,
            "TILE_CACHE_PORT": f"127.0.0.1:{self.port}",
            "TILE_CACHE_DIR": str(cache),
            "TILE_CACHE_MAX_SIZE": "100m",
        }
        (tmp / "tile-cache.conf").write_text(render(TEMPLATE.read_text(), values))
        (tmp / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp))
        check = subprocess.run(
            [NGINX, "-t", "-c", str(tmp / "nginx.conf")], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            [NGINX, "-c", str(tmp / "nginx.conf")], stderr=(tmp / "nginx.out").open("wb")
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Proxy]]:
    """An API (a short generation wait, so a 503 comes quickly) behind the proxy; no worker
    until a test starts one with ``with_worker``."""
    tmp: Path = tmp_path_factory.mktemp("proxy")
    stack = Stack(
        tmp, f"synthtiles-test-{uuid.uuid4().hex[:8]}", SYNTHTILES_TILE_WAIT_TIMEOUT_S="2"
    )
    proxy = None
    try:
        stack.base_url = stack.start_api()
        proxy = Proxy(stack.base_url.removeprefix("http://"))
        yield stack, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        stack.stop()


def with_worker(stack: Stack) -> None:
    if not any("worker" in p.args for p in stack.processes):  # type: ignore[operator]
        stack.start_worker("w1")


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=60)


def generated(url: str) -> httpx.Response:
    """The tile, asked for until made (the API's wait is short here: 503 until then)."""
    deadline = time.monotonic() + 120
    while True:
        response = get(url)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response


def test_pending_tiles_and_503s_are_never_stored(deployment: tuple[Stack, Proxy]) -> None:
    stack, proxy = deployment
    z, x, y = tile_at("testland", 6, 21)
    path = f"/{z}/{x}/{y}.png"
    # No worker yet: the tile cannot be made. A viewer's placeholder request gets a stand-in...
    for _ in range(2):
        stand_in = get(f"{proxy.url}{path}", **{"X-Synthtiles-Placeholder": "parent"})
        assert stand_in.status_code == 200
        assert stand_in.headers["x-synthtiles-pending"] == "true"
        assert stand_in.headers["cache-control"] == "no-store"
        assert stand_in.headers["x-tile-cache"] == "MISS"  # asked of the API each time
    # ...and a plain request, after the API's wait, a 503: neither is kept.
    for _ in range(2):
        busy = get(f"{proxy.url}{path}")
        assert busy.status_code == 503 and "retry-after" in busy.headers
        assert busy.headers["x-tile-cache"] == "MISS"
    with_worker(stack)
    tile = generated(f"{proxy.url}{path}")
    assert tile.status_code == 200 and tile.headers["x-tile-cache"] == "MISS"
    assert "x-synthtiles-pending" not in tile.headers
    # The real tile is what the proxy keeps, and a placeholder request now gets it too.
    again = get(f"{proxy.url}{path}", **{"X-Synthtiles-Placeholder": "parent"})
    assert again.headers["x-tile-cache"] == "HIT"
    assert again.content == tile.content and "x-synthtiles-pending" not in again.headers
    # Errors are not stored either.
    for _ in range(2):
        bad = get(f"{proxy.url}/worlds/atlantis{path}")
        assert bad.status_code == 404 and bad.headers["x-tile-cache"] == "MISS"


def test_the_proxy_serves_the_api_bytes_and_headers(deployment: tuple[Stack, Proxy]) -> None:
    stack, proxy = deployment
    with_worker(stack)
    z, x, y = tile_at("testland", 5, 22)
    for path in (f"/{z}/{x}/{y}.png", f"/worlds/testland/{z}/{x}/{y}.png"):
        first = generated(f"{proxy.url}{path}")
        assert first.status_code == 200 and first.headers["x-tile-cache"] == "MISS"
        direct = get(f"{stack.base_url}{path}")
        cached = get(f"{proxy.url}{path}")
        assert cached.headers["x-tile-cache"] == "HIT"
        assert first.content == direct.content == cached.content
        for name in TILE_HEADERS[:4]:
            assert first.headers[name] == direct.headers[name] == cached.headers[name], name
        assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert cached.headers["x-content-type-options"] == "nosniff"
    # Other routes pass through, uncached, with the client's Host (TileJSON's URLs).
    tilejson = get(f"{proxy.url}/tilejson.json").json()
    assert tilejson["tiles"][0].startswith(proxy.url)
    assert "x-tile-cache" not in get(f"{proxy.url}/tilejson.json").headers


def test_head_and_304_through_the_proxy(deployment: tuple[Stack, Proxy]) -> None:
    stack, proxy = deployment
    with_worker(stack)
    z, x, y = tile_at("testland", 5, 23)
    url = f"{proxy.url}/{z}/{x}/{y}.png"
    # A HEAD first (a miss): the proxy fetches the tile, answers the HEAD, keeps the tile.
    tile = generated(url)
    head = httpx.head(url, timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(tile.content))
    assert head.headers["etag"] == tile.headers["etag"]
    etag = tile.headers["etag"]
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}'):
        not_modified = get(url, **{"If-None-Match": if_none_match})
        assert not_modified.status_code == 304, if_none_match
        assert not_modified.headers["etag"] == etag and not_modified.content == b""
    assert get(url, **{"If-None-Match": '"other"'}).status_code == 200
    # A HEAD of a tile the proxy has not seen yet goes to the API and is then answered here.
    z2, x2, y2 = tile_at("testland", 5, 24)
    generated(f"{stack.base_url}/{z2}/{x2}/{y2}.png")
    first_head = httpx.head(f"{proxy.url}/{z2}/{x2}/{y2}.png", timeout=60)
    assert first_head.status_code == 200 and first_head.headers["x-tile-cache"] == "MISS"
    after = get(f"{proxy.url}/{z2}/{x2}/{y2}.png")
    assert after.headers["x-tile-cache"] == "HIT" and len(after.content) > 0


def test_cors_answers_are_kept_per_origin_and_keyed_requests_bypass(
    deployment: tuple[Stack, Proxy],
) -> None:
    stack, proxy = deployment
    with_worker(stack)
    z, x, y = tile_at("testland", 5, 25)
    url = f"{proxy.url}/{z}/{x}/{y}.png"
    plain = generated(url)
    assert "access-control-allow-origin" not in plain.headers
    cors = get(url, Origin="http://exercise.example")
    assert cors.headers["access-control-allow-origin"] == "*"
    assert cors.headers["x-tile-cache"] == "MISS"  # a copy of its own
    assert get(url, Origin="http://exercise.example").headers["x-tile-cache"] == "HIT"
    assert "access-control-allow-origin" not in get(url).headers
    keyed = get(f"{url}?key=anything")
    assert keyed.headers["x-tile-cache"] == "BYPASS"
    keyed = get(url, Authorization="Bearer anything")
    assert keyed.headers["x-tile-cache"] == "BYPASS"


def test_compose_and_kustomize_use_this_file() -> None:
    import kubernetes_validate

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    service = compose["services"]["tile-cache"]
    assert service["profiles"] == ["tile-cache"]
    mounts = [v.split(":")[0] for v in service["volumes"]]
    assert (ROOT / "docker" / mounts[0]).resolve() == TEMPLATE.resolve()
    assert set(service["environment"]) == set(
        re.findall(r"\$\{(TILE_CACHE_\w+)\}", TEMPLATE.read_text())
    )
    component = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    generator = component["configMapGenerator"][0]
    assert generator["files"] == [f"default.conf.template={TEMPLATE.name}"]
    documents = []
    for name in component["resources"]:
        documents += [d for d in yaml.safe_load_all((COMPONENT / name).read_text()) if d]
    for document in documents:
        kubernetes_validate.validate(document, "1.31.0", strict=True)
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert set(env) == set(service["environment"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"] and "livenessProbe" in container
