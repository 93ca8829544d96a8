"""Faults on demand: each kind over real sockets, determinism by seed, and the propagation delay."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from tui.core.errors import UsageError
from tui.emulator import Emulator
from tui.emulator.faults import parse


@pytest.fixture
def graph(emulator: Emulator) -> Iterator[httpx.Client]:
    token = emulator.issue_token(emulator.member_upn, ("User.ReadWrite",))
    with httpx.Client(
        base_url=f"{emulator.graph_url}/v1.0",
        verify=emulator.ssl_context(),
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


def jpeg(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), color).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(("kind", "code"), [("429", "TooManyRequests"), ("503", "serviceNotAvailable")])
def test_throttling_carries_retry_after_then_recovers(
    emulator: Emulator, graph: httpx.Client, kind: str, code: str
) -> None:
    emulator.add_fault(kind, path="/photo/$value", method="GET", retry_after=7)
    first = graph.get("/me/photo/$value")
    assert first.status_code == int(kind) and first.headers["retry-after"] == "7"
    assert first.json()["error"]["code"] == code
    assert graph.get("/me").status_code == 200  # another path is untouched
    assert graph.get("/me/photo/$value").status_code == 200  # one-shot


def test_500_and_a_non_json_error_body(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.add_fault("500")
    emulator.add_fault("html")
    failed = graph.get("/me")
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "ErrorStoreInternalServerError"
    page = graph.get("/me")
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
    assert graph.get("/me").status_code == 200


def test_reset_before_the_response(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.add_fault("reset", path="/me")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        graph.get("/me")
    assert graph.get("/me").status_code == 200
    assert emulator.request_log()[0]["fault"] == "reset" and emulator.request_log()[0]["status"] == 0


def test_reset_in_the_middle_of_the_photo(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.add_fault("reset_mid", path="/photo/$value")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        graph.get("/me/photo/$value")
    assert len(graph.get("/me/photo/$value").content) == len(emulator.photo(emulator.member_upn) or b"")


def test_reset_while_uploading_keeps_the_old_photo(emulator: Emulator, graph: httpx.Client) -> None:
    before = emulator.photo_etag(emulator.member_upn)
    emulator.add_fault("reset_upload", method="PUT")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        graph.put("/me/photo/$value", content=jpeg("red") * 20, headers={"Content-Type": "image/jpeg"})
    assert emulator.photo_etag(emulator.member_upn) == before


def test_slow_response(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.add_fault("slow", path="/me", delay=0.4)
    started = time.monotonic()
    assert graph.get("/me").status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        emulator.add_fault("slow", path="/me", delay=1)
        graph.get("/me", timeout=0.2)


def test_propagation_delay_serves_the_previous_photo(emulator: Emulator, graph: httpx.Client) -> None:
    emulator.set_faults("propagation=3")  # long enough for the stale reads below on a loaded 2-core machine
    old = graph.get("/me/photo/$value")
    assert graph.put("/me/photo/$value", content=jpeg("red"), headers={"Content-Type": "image/jpeg"}).status_code == 200
    stale = graph.get("/me/photo/$value")
    assert stale.content == old.content and stale.headers["etag"] == old.headers["etag"]
    assert graph.get("/me/photo").json()["@odata.mediaEtag"] == old.headers["etag"]
    deadline = time.monotonic() + 15
    while (fresh := graph.get("/me/photo/$value")).headers["etag"] == old.headers["etag"]:
        assert time.monotonic() < deadline, "the new photo never appeared after the propagation delay"
        time.sleep(0.2)
    assert fresh.headers["etag"] == emulator.photo_etag(emulator.member_upn)


def test_same_seed_same_faults(emulator: Emulator, graph: httpx.Client) -> None:
    def run() -> list[int]:
        emulator.set_faults("seed=7,429=0.3:retry=0,503=0.2:retry=0")
        return [graph.get("/me").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {200, 429, 503} <= set(first)
    emulator.set_faults("seed=8,429=0.3:retry=0,503=0.2:retry=0")
    assert [graph.get("/me").status_code for _ in range(20)] != first
    emulator.clear_faults()
    assert {graph.get("/me").status_code for _ in range(5)} == {200}


def test_faults_spare_sign_in_unless_aimed_at_it(emulator: Emulator) -> None:
    emulator.set_faults("429=1.0")
    with httpx.Client(verify=emulator.ssl_context()) as http:
        url = f"{emulator.authority}/v2.0/.well-known/openid-configuration"
        assert http.get(url).status_code == 200
        emulator.add_fault("503", path="/oauth2/v2.0/token")
        assert http.post(f"{emulator.authority}/oauth2/v2.0/token", data={}).status_code == 503


@pytest.mark.parametrize(
    ("spec", "problem"),
    [("429", "expected KIND=PROBABILITY"), ("418=0.1", "unknown kind"), ("429=2", "between 0 and 1"),
     ("503=x", "not a number"), ("429=0.1:colour=red", "unknown option")],
)  # fmt: skip
def test_bad_specs_are_one_line_usage_errors(spec: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem) as caught:
        parse(spec)
    assert "\n" not in str(caught.value)


def test_spec_parses_options() -> None:
    spec = parse("seed=3, 429=0.25:retry=2:method=put, slow=0.1:delay=1.5, propagation=30, concurrency=4")
    assert (spec.seed, spec.propagation, spec.concurrency) == (3, 30, 4)
    first = spec.faults[0]
    assert (first.kind, first.probability, first.retry_after, first.method) == ("429", 0.25, 2, "put")
    assert spec.faults[1].delay == 1.5


def test_more_than_the_mailbox_concurrency_is_throttled(emulator: Emulator, graph: httpx.Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    emulator.set_faults("concurrency=2")
    emulator.add_fault("slow", path="/me/photo", count=2, delay=3)  # holds both slots while the third arrives
    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(graph.get, "/me/photo") for _ in range(2)]
        while emulator.faults.in_flight() < 2 and not all(f.done() for f in slow):
            time.sleep(0.01)  # until both slow requests hold their slots
        third = pool.submit(graph.get, "/me/photo").result()
        assert [f.result().status_code for f in slow] == [200, 200]
    assert third.status_code == 429 and third.json()["error"]["code"] == "ApplicationThrottled"
    assert third.headers["retry-after"] == "1"
    assert graph.get("/me/photo").status_code == 200
