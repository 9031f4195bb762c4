"""``reportgen send`` against a scripted stand-in FHIR server on 127.0.0.1: refusals shown on one
line with the server's diagnostics (exit 1), bounded retries of 5xx and timeouts, the token sent
but never shown, plain http:// refused off localhost, dry runs make no request."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from reportgen import send

DATA = Path(__file__).resolve().parent / "data"
PATIENT = DATA / "fhir_patient.json"
SETTINGS = DATA / "settings" / "fhir.toml"
BUNDLE = "patient-F-7.bundle.json"
TOKEN = "s3cret-token-Zq9"

Reply = tuple[int, dict | None]


class StandIn:
    """Answers searches with one Patient/Organization and no DocumentReference; ``post`` says
    what each POST gets (a list is consumed in order, the last reply repeats)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.post: list[Reply | Callable[[], Reply]] = [(200, transaction_response())]
        self.patients = 1
        self.trickle = False
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(  # a short poll: shutdown() waits for one
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fhir"

    def posts(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        return [r for r in self.requests if r[0] == "POST"]

    def reply(self, method: str, path: str) -> Reply:
        if method == "GET" and "/Patient?" in path:
            return 200, searchset(
                [
                    {"resourceType": "Patient", "id": f"p{i}", "identifier": [searched(path)]}
                    for i in range(self.patients)
                ]
            )
        if method == "GET" and "/Organization?" in path:
            return 200, searchset(
                [{"resourceType": "Organization", "id": "o1", "identifier": [searched(path)]}]
            )
        if method == "GET" and "/DocumentReference?" in path:
            return 200, searchset([])
        if method == "POST" and path == "/fhir":
            step = self.post.pop(0) if len(self.post) > 1 else self.post[0]
            return step() if callable(step) else step
        return 404, outcome("not found")

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stand_in.requests.append((self.command, self.path, dict(self.headers), body))
                status, payload = stand_in.reply(self.command, self.path)
                if isinstance(payload, bytes):
                    data = payload
                else:
                    data = json.dumps(payload).encode() if payload is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if stand_in.trickle:  # a byte at a time: each read is quick, the whole is not
                        for byte in data[:40]:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.1)
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def searched(path: str) -> dict:
    """The identifier a search asks for, as the matching resource carries it."""
    system, value = send._token_parts(path.split("identifier=", 1)[1])
    return {"system": system, "value": value}


def searchset(resources: list[dict]) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def outcome(text: str, expression: str | None = None) -> dict:
    issue = {"severity": "error", "code": "invalid", "diagnostics": text}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def transaction_response(entries: int = 8) -> dict:
    """One answer per entry of the sample bundle (Binary, DocumentReference, then results)."""
    answers = [
        {"response": {"status": "201 Created", "location": "Binary/b1/_history/1"}},
        {"response": {"status": "201 Created", "location": "DocumentReference/d1/_history/1"}},
    ]
    answers += [
        {"response": {"status": "200 OK", "location": f"Observation/o{i}/_history/2"}}
        for i in range(entries - 2)
    ]
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}


@pytest.fixture(scope="module")
def made(run_reportgen, tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("made")
    result = run_reportgen(
        "patient",
        PATIENT,
        "-o",
        outdir,
        "--format",
        "fhir-bundle",
        "--settings",
        SETTINGS,
    )
    assert result.exit_code == 0, result.stderr
    return outdir


@pytest.fixture
def outdir(made, tmp_path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "out"))


@pytest.fixture
def token_file(tmp_path) -> Path:
    path = tmp_path / "token.txt"
    path.write_text(TOKEN + "\n", "utf-8")
    return path


@pytest.fixture
def server() -> Iterator[StandIn]:
    with StandIn() as stand_in:
        yield stand_in


def sent(outdir: Path) -> dict:
    manifest = json.loads((outdir / "manifest.json").read_text("utf-8"))
    (entry,) = [e for e in manifest["files"] if e["path"] == BUNDLE]
    return entry.get("send", {})


def test_send_posts_the_resolved_bundle_and_records_the_answer(
    run_reportgen, server, outdir, token_file
):
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--token-file", token_file)
    assert result.exit_code == 0, result.stderr
    (post,) = server.posts()
    method, path, headers, body = post
    assert path == "/fhir"
    assert headers["Content-Type"] == "application/fhir+json"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    bundle = json.loads(body)
    assert bundle["type"] == "transaction"
    docref = bundle["entry"][1]["resource"]
    assert docref["subject"]["reference"] == "Patient/p0"  # resolved by search first
    assert docref["author"][0]["reference"] == "Organization/o1"
    record = sent(outdir)
    assert record["status"] == "created"
    assert record["document_reference"] == "DocumentReference/d1"
    assert record["http_status"] == 200
    assert record["entries"][1] == {
        "status": "201 Created",
        "location": "DocumentReference/d1/_history/1",
    }
    assert "1 of 1 bundle(s) delivered" in result.stderr
    assert result.stdout == f"{outdir / 'manifest.json'}\n"
    assert TOKEN not in result.stdout + result.stderr
    assert TOKEN not in (outdir / "manifest.json").read_text("utf-8")


def test_refusal_shows_the_operation_outcome_on_one_line_and_exits_1(
    run_reportgen, server, outdir, token_file
):
    server.post = [
        (
            422,
            outcome(
                "Observation.code: minimum required = 1,\nbut only found 0",
                "Bundle.entry[3].resource.code",
            ),
        )
    ]
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--token-file", token_file)
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert line == (
        f"Error: {BUNDLE}: refused by the server (HTTP 422): error: Observation.code:"
        " minimum required = 1, but only found 0 at Bundle.entry[3].resource.code"
    )
    assert len(server.posts()) == 1  # a refusal is not retried
    assert sent(outdir)["status"] == "failed"
    assert TOKEN not in result.stdout + result.stderr


def test_5xx_is_retried_a_bounded_number_of_times(run_reportgen, server, outdir, monkeypatch):
    """Exponential backoff between the tries (recorded, not slept: no timing in a test)."""
    waits: list[float] = []
    monkeypatch.setattr(send, "time", SimpleNamespace(sleep=waits.append, monotonic=time.monotonic))
    server.post = [(503, outcome("database busy"))]
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--retries", "2")
    assert result.exit_code == 1
    assert len(server.posts()) == 3
    assert "failed 3 time(s), last: HTTP 503: error: database busy" in result.stderr
    assert waits == [0.5, 1.0]  # SendOptions.backoff_s doubled, bounded by --retries


def test_a_transient_failure_then_success_delivers(run_reportgen, server, outdir):
    server.post = [(502, None), (200, transaction_response())]
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 0, result.stderr
    assert len(server.posts()) == 2
    assert sent(outdir)["status"] == "created"


@pytest.mark.slow
def test_timeouts_are_retried_then_reported(run_reportgen, server, outdir):
    def slow() -> Reply:
        time.sleep(1.5)
        return 200, transaction_response()

    server.post = [slow]
    result = run_reportgen(
        "send", outdir, "--fhir-base", server.url, "--timeout", "0.3", "--retries", "1"
    )
    assert result.exit_code == 1
    assert len(server.posts()) == 2
    assert "timed out after 0.3 s" in result.stderr


def test_missing_patient_sends_nothing(run_reportgen, server, outdir):
    server.patients = 0
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 1
    assert "no Patient on the server matches Patient?identifier=" in result.stderr
    assert server.posts() == []


def test_two_matching_patients_send_nothing(run_reportgen, server, outdir):
    server.patients = 2
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 1
    assert "2 Patient on the server matches" in result.stderr
    assert server.posts() == []


def test_a_changed_bundle_is_not_sent(run_reportgen, server, outdir):
    path = outdir / BUNDLE
    text = path.read_text("utf-8")
    assert '"osteoporosis"' in text
    path.write_text(text.replace('"osteoporosis"', '"normal"'), "utf-8")
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 1
    assert "changed since reportgen wrote it" in result.stderr
    assert server.requests == []


def test_dry_run_makes_no_request_and_leaves_the_manifest(run_reportgen, server, outdir):
    before = (outdir / "manifest.json").read_bytes()
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert f"{BUNDLE}: would POST 8 entries" in result.stderr
    assert server.requests == []
    assert (outdir / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("url", ["http://fhir.example.org/fhir", "http://10.0.0.5:8080/fhir"])
def test_plain_http_off_localhost_is_refused(run_reportgen, outdir, url):
    result = run_reportgen("send", outdir, "--fhir-base", url)
    assert result.exit_code == 2
    assert "refusing plain http://" in result.stderr
    result = run_reportgen("send", outdir, "--fhir-base", url, "--allow-insecure", "--dry-run")
    assert result.exit_code == 0, result.stderr


def test_credentials_in_the_url_are_refused(run_reportgen, outdir):
    result = run_reportgen("send", outdir, "--fhir-base", f"https://u:{TOKEN}@ehr.example/f")
    assert result.exit_code == 2
    assert "use --token-file" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_no_bundles_in_the_manifest(run_reportgen, tmp_path):
    (tmp_path / "manifest.json").write_text('{"files": []}', "utf-8")
    result = run_reportgen("send", tmp_path, "--fhir-base", "https://ehr.example/fhir", "--dry-run")
    assert result.exit_code == 1
    assert "no fhir-bundle files" in result.stderr


def test_already_present_document_is_not_sent_again(run_reportgen, server, outdir):
    original = server.reply

    def reply(method: str, path: str) -> Reply:
        if method == "GET" and "/DocumentReference?identifier=urn:ietf:rfc:3986" in path:
            stored = {"masterIdentifier": searched(path)}
            return 200, searchset([{"resourceType": "DocumentReference", "id": "d9", **stored}])
        return original(method, path)

    server.reply = reply
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 0, result.stderr
    assert "already on the server as DocumentReference/d9" in result.stderr
    assert server.posts() == []
    assert sent(outdir)["status"] == "already-present"


def _replying(server: StandIn, kind: str, answer: Reply) -> None:
    """``server`` answers the GET searches for ``kind`` (Patient, DocumentReference) so."""
    original = server.reply

    def reply(method: str, path: str) -> Reply:
        if method == "GET" and f"/{kind}?" in path:
            return answer
        return original(method, path)

    server.reply = reply


def test_a_patient_without_the_searched_identifier_is_never_the_subject(
    run_reportgen, server, outdir
):
    """A server that ignores an unsupported search parameter answers with any Patient: the
    report would have landed in another woman's chart."""
    other = {"resourceType": "Patient", "id": "other-99"}
    _replying(server, "Patient", (200, searchset([{**other, "identifier": [{"value": "X"}]}])))
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--retries", "0")
    assert result.exit_code == 1
    assert "does not carry that identifier; nothing sent" in result.stderr
    assert server.posts() == []


def test_a_document_search_the_server_ignores_is_not_taken_for_a_delivery(
    run_reportgen, server, outdir
):
    someone = {"resourceType": "DocumentReference", "id": "d5"}
    _replying(server, "DocumentReference", (200, searchset([someone])))
    result = run_reportgen("send", outdir, "--fhir-base", server.url)
    assert result.exit_code == 0, result.stderr
    assert "created DocumentReference/d1" in result.stderr
    assert len(server.posts()) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, transaction_response(3)), "has 3 entries for the 8 sent; the delivery is not"),
        ((200, {"resourceType": "Bundle", "entry": ["x"] * 8}), "answered no status for an"),
        (  # details as a string, not a CodeableConcept: once an AttributeError
            (422, {"resourceType": "OperationOutcome", "issue": [{"details": "x", "code": "bad"}]}),
            "refused by the server (HTTP 422): error: bad",
        ),
    ],
)
def test_odd_transaction_answers_fail_that_file_cleanly(
    run_reportgen, server, outdir, answer, message
):
    server.post = [answer]
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--retries", "0")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "internal error" not in result.stderr
    assert sent(outdir)["status"] == "failed"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, {"resourceType": "Bundle", "entry": 5}), "the answer is not a FHIR Bundle"),
        (
            (200, searchset([{"resourceType": "Patient", "identifier": []}])),
            "a match without an id",
        ),
        (
            (400, {"resourceType": "OperationOutcome", "issue": [{"details": "oops"}]}),
            "refused (HTTP 400)",
        ),
        ((200, b"[1, 2]"), "answer is not a FHIR resource"),
    ],
)
def test_odd_search_answers_fail_that_file_cleanly(run_reportgen, server, outdir, answer, message):
    _replying(server, "Patient", answer)
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--retries", "0")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "internal error" not in result.stderr
    assert sent(outdir)["status"] == "failed"


def test_a_trickling_answer_times_out_as_a_whole(run_reportgen, server, outdir):
    """httpx's timeout is per read: a byte a second never ended. --timeout bounds the answer."""
    server.trickle = True
    started = time.monotonic()
    result = run_reportgen(
        "send", outdir, "--fhir-base", server.url, "--retries", "0", "--timeout", "1"
    )
    assert result.exit_code == 1
    assert "timed out after 1 s" in result.stderr
    assert time.monotonic() - started < 3.5  # 40 bytes at 0.1 s would take 4 s


def test_an_answer_larger_than_the_limit_is_refused(run_reportgen, server, outdir, monkeypatch):
    monkeypatch.setattr(send, "MAX_ANSWER_BYTES", 4096)
    _replying(server, "Patient", (200, b" " * 10_000))
    result = run_reportgen("send", outdir, "--fhir-base", server.url, "--retries", "0")
    assert result.exit_code == 1
    assert "the answer is larger than" in result.stderr
