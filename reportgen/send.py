"""``reportgen send``: POST each FHIR transaction Bundle of a manifest to a FHIR server (httpx).

For each ``fhir-bundle`` file of ``manifest.json`` (its sha256 checked first):

1. the Bundle's conditional references (``Patient?identifier=…``, ``Organization?identifier=…``)
   are resolved by searching the server: exactly one match, or the file is not sent (many
   servers, Medplum among them, store an unresolved conditional reference as it is);
2. if the server already holds the DocumentReference (its masterIdentifier), nothing is sent;
3. otherwise the Bundle is POSTed as ``application/fhir+json``; its entries are conditional, so
   even a resend that races another one adds no DocumentReference or Observation twice.

Transient failures (5xx, 429, timeouts, refused connections) are retried a bounded number of
times with exponential backoff. The token is sent only in the ``Authorization`` header and never
appears in a message. Each response is recorded in the manifest under the file's ``send`` key."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

import httpx

from reportgen.errors import ReportError, bug_summary
from reportgen.output import MANIFEST, atomic_write, dump_json, locked_output_dir, sha256_bytes

FHIR_JSON = "application/fhir+json"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_CONDITIONAL = re.compile(r"^(Patient|Organization)\?[^\s]+$")
_TRANSIENT = {429, 500, 502, 503, 504}
_MAX_BACKOFF_S = 8.0
# A search for one identifier or a transaction-response of a few entries is kilobytes; a 600 MB
# answer took send to 1.26 GB. Larger answers are refused, read no further.
MAX_ANSWER_BYTES = 16 * 2**20


class SendError(ReportError):
    """A file could not be delivered; the message is one line, without the token."""


@dataclass
class SendOptions:
    """How to talk to the server (see ``reportgen send --help``)."""

    base_url: str
    token: str | None = None
    timeout_s: float = 30.0
    retries: int = 3  # after the first attempt
    backoff_s: float = 0.5
    allow_insecure: bool = False


@dataclass
class SendResult:
    """One bundle file: ``status`` created | already-present | would-send | failed."""

    path: str
    status: str
    document_reference: str | None = None
    http_status: int | None = None
    entries: list[dict] = field(default_factory=list)
    error: str | None = None

    def as_record(self, base_url: str, at: str) -> dict:
        record: dict[str, object] = {"server": base_url, "status": self.status, "at": at}
        if self.http_status is not None:
            record["http_status"] = self.http_status
        if self.document_reference:
            record["document_reference"] = self.document_reference
        if self.entries:
            record["entries"] = self.entries
        if self.error:
            record["error"] = self.error
        return record


def check_base_url(base_url: str, *, allow_insecure: bool = False) -> str:
    """The base URL without a trailing slash; plain http only to localhost or when allowed."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SendError(f"--fhir-base must be an http(s) URL, not {base_url!r}")
    if parts.username or parts.password:
        raise SendError("--fhir-base must not contain credentials; use --token-file")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS and not allow_insecure:
        raise SendError(
            f"refusing plain http:// to {parts.hostname}: the report and the token "
            "would cross the network unencrypted (use https://, or "
            "--allow-insecure on a network you trust)"
        )
    return base_url.rstrip("/")


def read_token(path: Path | str | None) -> str | None:
    """The bearer token from the first line of a file (None without a file)."""
    if path is None:
        return None
    try:
        token = Path(path).read_text("utf-8-sig").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SendError(f"{path}: cannot read the token file ({exc.__class__.__name__})") from None
    if not token or not token[0].strip():
        raise SendError(f"{path}: the token file is empty")
    return token[0].strip()


def bundle_files(outdir: Path) -> list[dict]:
    """The manifest entries of format ``fhir-bundle`` (refuses without any)."""
    try:
        manifest = json.loads((outdir / MANIFEST).read_text("utf-8"))
        entries = [e for e in manifest["files"] if isinstance(e, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        raise SendError(f"{outdir}: no readable {MANIFEST} (run reportgen patient first)") from None
    bundles = [e for e in entries if e.get("format") == "fhir-bundle"]
    if not bundles:
        raise SendError(
            f"{outdir / MANIFEST}: no fhir-bundle files (make them with "
            "reportgen patient ... --format pdf,fhir-bundle)"
        )
    return bundles


def send_outdir(
    outdir: Path | str,
    options: SendOptions,
    *,
    dry_run: bool = False,
    on_result: Callable[[SendResult], None] | None = None,
    client: httpx.Client | None = None,
    lock_wait_s: float = 0.0,
) -> list[SendResult]:
    """Send every bundle of OUTDIR's manifest; record the responses in the manifest (not on a
    dry run, which makes no request at all). Holds OUTDIR's lock (issue 17), so no report
    run replaces a bundle or rewrites the manifest meanwhile."""
    outdir = Path(outdir)
    base = check_base_url(options.base_url, allow_insecure=options.allow_insecure)
    results = []
    owned = client is None and not dry_run
    lock = contextlib.nullcontext() if dry_run else locked_output_dir(outdir, wait_s=lock_wait_s)
    with lock:
        if owned:
            client = _client(options)
        try:
            for entry in bundle_files(outdir):
                result = _send_file(outdir, entry, base, options, client, dry_run)
                results.append(result)
                if on_result:
                    on_result(result)
        finally:
            if owned and client is not None:
                client.close()
        if not dry_run:
            _record(outdir, results, base)
    return results


def _client(options: SendOptions) -> httpx.Client:
    headers = {"Accept": FHIR_JSON, "User-Agent": "reportgen-send"}
    if options.token:
        headers["Authorization"] = f"Bearer {options.token}"
    return httpx.Client(headers=headers, timeout=options.timeout_s, follow_redirects=False)


def _send_file(
    outdir: Path,
    entry: dict,
    base: str,
    options: SendOptions,
    client: httpx.Client | None,
    dry_run: bool,
) -> SendResult:
    name = str(entry.get("path"))
    try:
        bundle = _load_bundle(outdir, entry)
        if dry_run:
            return SendResult(
                name,
                "would-send",
                error=None,
                entries=[
                    {"method": e["request"]["method"], "url": e["request"]["url"]}
                    for e in bundle["entry"]
                ],
            )
        assert client is not None
        conn = _Connection(client, base, options)
        bundle = _resolve_references(bundle, conn)
        existing = _existing_document(bundle, conn)
        if existing:
            return SendResult(name, "already-present", document_reference=existing)
        response = conn.request(
            "POST",
            "",
            content=json.dumps(bundle, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": FHIR_JSON},
        )
        return _created(name, response, len(bundle["entry"]))
    except SendError as exc:
        return SendResult(name, "failed", error=f"{name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - an odd answer must not lose the other files
        return SendResult(name, "failed", error=f"{name}: {bug_summary(exc)}; please report it")


def _load_bundle(outdir: Path, entry: dict) -> dict:
    path = outdir / str(entry.get("path"))
    if Path(str(entry.get("path"))).name != entry.get("path"):
        raise SendError("unsafe path in the manifest")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SendError(f"cannot read ({exc.strerror})") from None
    if sha256_bytes(data) != entry.get("sha256"):
        raise SendError(
            "changed since reportgen wrote it (sha256 differs from the manifest); nothing sent"
        )
    try:
        bundle = json.loads(data)
    except ValueError:
        raise SendError("not JSON") from None
    if (
        not isinstance(bundle, dict)
        or bundle.get("resourceType") != "Bundle"
        or bundle.get("type") != "transaction"
        or not isinstance(bundle.get("entry"), list)
    ):
        raise SendError("not a FHIR transaction Bundle")
    return bundle


@dataclass(frozen=True)
class _Answer:
    """A server's answer, read whole within the size and time limits."""

    status_code: int
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


class _Slow(Exception):
    """The answer did not arrive whole within the timeout."""


class _Connection:
    """Requests to one server with bounded retries of transient failures."""

    def __init__(self, client: httpx.Client, base: str, options: SendOptions):
        self.client, self.base, self.options = client, base, options

    def _answer(self, method: str, url: str, **kwargs) -> _Answer:
        """One request, its answer read in chunks: at most ``MAX_ANSWER_BYTES``, and whole
        within ``timeout_s`` (httpx's timeout is per read: a byte a second never ended)."""
        deadline = time.monotonic() + self.options.timeout_s
        with self.client.stream(method, url, **kwargs) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise SendError(
                        f"{method} {url}: the answer is larger than "
                        f"{MAX_ANSWER_BYTES // 2**20} MiB; refused"
                    )
                if time.monotonic() > deadline:
                    raise _Slow
            return _Answer(response.status_code, bytes(body))

    def request(self, method: str, path: str, **kwargs) -> _Answer:
        url = f"{self.base}/{path}" if path else self.base
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            try:
                response = self._answer(method, url, **kwargs)
            except (httpx.TimeoutException, _Slow):
                failure = f"timed out after {self.options.timeout_s:g} s"
            except httpx.TransportError as exc:
                failure = f"connection failed ({exc.__class__.__name__})"
            else:
                if response.status_code not in _TRANSIENT:
                    return response
                failure = f"HTTP {response.status_code}{_diagnostics(response, prefix=': ')}"
            if attempt + 1 < attempts:
                time.sleep(min(self.options.backoff_s * 2**attempt, _MAX_BACKOFF_S))
        raise SendError(f"{method} {url} failed {attempts} time(s), last: {failure}")

    def search(self, query: str) -> list[dict]:
        response = self.request("GET", query)
        if response.status_code != 200:
            raise SendError(
                f"search {query} refused (HTTP {response.status_code})"
                + _diagnostics(response, prefix=": ")
            )
        bundle = _json(response)
        entries = bundle.get("entry") or []
        if bundle.get("resourceType") != "Bundle" or not isinstance(entries, list):
            raise SendError(f"search {query}: the answer is not a FHIR Bundle of entries")
        kind = query.split("?", 1)[0]
        matches = [
            e["resource"]
            for e in entries
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == kind
            and _get(e, "search", "mode", default="match") == "match"
        ]
        if any(not isinstance(m.get("id"), str) or not m["id"] for m in matches):
            raise SendError(f"search {query}: a match without an id")
        return matches


def _get(node: object, *keys: str, default: object = None) -> object:
    """``node[k1][k2]…`` where each step is a JSON object, else ``default``."""
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _carries(resource: dict, system: str, value: str) -> bool:
    """Whether ``resource`` has the identifier ``system|value`` (a server that ignores an
    unsupported search parameter answers with any resource: the report must not land in
    another woman's chart)."""
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):  # masterIdentifier
        identifiers = [identifiers]
    return isinstance(identifiers, list) and any(
        isinstance(i, dict) and i.get("system") == system and i.get("value") == value
        for i in identifiers
    )


def _resolve_references(bundle: dict, conn: _Connection) -> dict:
    """Replace each conditional reference by ``Type/id`` of its single match on the server."""
    resolved: dict[str, str] = {}
    for reference in sorted(_conditional_references(bundle)):
        matches = conn.search(reference)
        if len(matches) != 1:
            found = "no" if not matches else f"{len(matches)}"
            raise SendError(
                f"{found} {reference.split('?')[0]} on the server matches "
                f"{reference}; nothing sent (the record must exist, exactly once)"
            )
        system, value = _token_parts(reference.split("identifier=", 1)[1])
        if not _carries(matches[0], system, value):
            raise SendError(
                f"the server answered {reference} with a {reference.split('?')[0]} that does "
                "not carry that identifier; nothing sent (does the server support the "
                "identifier search?)"
            )
        resolved[reference] = f"{matches[0]['resourceType']}/{matches[0]['id']}"
    return cast(dict, _rewrite(bundle, resolved))


def _token_parts(token: str) -> tuple[str, str]:
    """``system|value`` of a token search as ``fhir._token`` wrote it (URL- and FHIR-escaped)."""
    system, _, value = token.partition("|")
    value = re.sub(r"\\(.)", r"\1", unquote(value))  # \| \, \\ -> | , \
    return unquote(system), value


def _conditional_references(node: object) -> set[str]:
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and _CONDITIONAL.match(value):
                found.add(value)
            else:
                found |= _conditional_references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_conditional_references(v) for v in node)) if node else set()
    return set()


def _rewrite(node: object, resolved: dict[str, str]) -> object:
    if isinstance(node, dict):
        return {
            k: (
                resolved.get(v, v)
                if k == "reference" and isinstance(v, str)
                else _rewrite(v, resolved)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v, resolved) for v in node]
    return node


def _existing_document(bundle: dict, conn: _Connection) -> str | None:
    for entry in bundle["entry"]:
        resource = entry.get("resource") or {}
        master = resource.get("masterIdentifier")
        if resource.get("resourceType") == "DocumentReference" and master:
            system, value = str(master.get("system")), str(master.get("value"))
            matches = conn.search(f"DocumentReference?identifier={system}|{value}")
            ours = [
                m
                for m in matches
                if _carries({"identifier": m.get("masterIdentifier")}, system, value)
                or _carries(m, system, value)
            ]  # a server ignoring the search would otherwise make every report "present"
            if ours:
                return f"DocumentReference/{ours[0]['id']}"
    return None


def _created(name: str, response: _Answer, sent: int) -> SendResult:
    if response.status_code >= 400:
        raise SendError(
            f"refused by the server (HTTP {response.status_code})"
            + _diagnostics(response, prefix=": ")
        )
    body = _json(response)
    if body.get("resourceType") != "Bundle":
        raise SendError(
            f"unexpected answer (HTTP {response.status_code}, "
            f"{body.get('resourceType') or 'no resource'}), not a transaction-response"
        )
    items = body.get("entry") or []
    if not isinstance(items, list) or len(items) != sent:
        count = len(items) if isinstance(items, list) else "no list of"
        raise SendError(
            f"the transaction-response has {count} entries for the {sent} sent; "
            "the delivery is not confirmed"
        )
    entries: list[dict[str, str | None]] = []
    document = None
    for item in items:
        status, location = _get(item, "response", "status"), _get(item, "response", "location")
        location = location if isinstance(location, str) else None
        entries.append({"status": str(status or ""), "location": location})
        if location and location.startswith("DocumentReference/") and document is None:
            document = "/".join(location.split("/")[:2])
    failed = [e for e in entries if not str(e["status"]).lstrip().startswith("2")]
    if failed:
        raise SendError(f"the server answered {failed[0]['status'] or 'no status'} for an entry")
    return SendResult(
        name,
        "created",
        document_reference=document,
        http_status=response.status_code,
        entries=entries,
    )


def _json(response: _Answer) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise SendError(f"answer is not JSON (HTTP {response.status_code})") from None
    if not isinstance(body, dict):
        raise SendError(f"answer is not a FHIR resource (HTTP {response.status_code})")
    return body


def _diagnostics(response: _Answer, *, prefix: str = "") -> str:
    """The OperationOutcome's issues on one line (diagnostics, details, where)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        text = issue.get("diagnostics") or _get(issue, "details", "text") or issue.get("code") or ""
        places = issue.get("expression") or issue.get("location") or []
        where = ", ".join(map(str, places)) if isinstance(places, list) else str(places)
        parts.append(
            f"{issue.get('severity', 'error')}: {text}" + (f" at {where}" if where else "")
        )
    line = " ".join("; ".join(parts).split())  # one line, whatever the server put in
    return prefix + line[:2000] if line else ""


def _record(outdir: Path, results: list[SendResult], base: str) -> None:
    """Add each result under its file's ``send`` key in manifest.json (atomically)."""
    path = outdir / MANIFEST
    manifest = json.loads(path.read_text("utf-8"))
    at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    by_path = {r.path: r for r in results}
    for entry in manifest.get("files", []):
        if isinstance(entry, dict) and entry.get("path") in by_path:
            entry["send"] = by_path[entry["path"]].as_record(base, at)
    atomic_write(path, dump_json(manifest))
