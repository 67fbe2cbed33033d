#!/usr/bin/env python3
"""crm_standin.py: a stand-in for the slice of the Salesforce REST API that CallLedger's CRM connector uses.

Python 3 standard library only (http.server + sqlite3). It keeps records in a SQLite file and answers:

  PATCH /services/data/vNN.N/sobjects/{Object}/{ExternalIdField}/{value}
        upsert one record by external id: 201 {"id","success","errors","created":true} when it inserts,
        200 with "created": false when it updates (204 without a body for API versions before 46.0),
        300 with the matching records' URLs when several records carry the value,
        400 [{"message","errorCode","fields"}] for a body that is not a JSON object.
  PATCH /services/data/vNN.N/composite/sobjects/{Object}/{ExternalIdField}
        upsert up to 200 records: {"allOrNone": false, "records": [{"attributes": {"type": Object}, ...}]};
        200 with one {"id","success","created","errors":[{"statusCode","message","fields"}]} per record, in order;
        400 EXCEEDED_ID_LIMIT above 200 records. allOrNone true is accepted and rolls back on any failure.
  GET   /services/data/vNN.N/sobjects/{Object}/{ExternalIdField}/{value}
        the record: {"attributes": {...}, "Id": ..., fields...}; 404 when absent, 300 when several match.

Every /services/ request needs "Authorization: Bearer TOKEN" (401 INVALID_SESSION_ID otherwise).

Test control endpoints (no token):
  GET  /__records?object=X   all records (of object X when given) as a JSON array
  GET  /__stats              {"requests": {"Object/Field/value": n}, "writes": {...}, "total": n}: upsert
                             requests received per record key (faulted ones included), upserts applied per key,
                             and all API requests (refused tokens included)
  POST /__seed               {"object","externalIdField","externalId","fields":{},"copies":n}: inserts n records
                             with that external id unconditionally (copies >= 2 sets up a 300 answer)
  POST /__faults             {"fail_next": n, "fail_status": 429|500|..., "retry_after": s, "delay_ms": m,
                             "delay_next": n, "drop_next": n}: the same switches as the command-line flags;
                             answers with the fault state now in force

Faults apply to /services/ requests in this order: a dropped request is read and its connection closed with no
response and nothing written; a failed request gets fail_status (429 carries Retry-After) and nothing is written;
a delayed request is applied first and its response is sent delay_ms later (a client that timed out meanwhile
sees a timeout although the write happened, as with a real server).

Start: python3 tools/crm-standin/crm_standin.py --db FILE --port 0 --token T
prints "listening on 127.0.0.1:PORT" (flushed) once it accepts connections, and serves until SIGTERM or SIGINT
(or, with --exit-with-stdin, until its standard input closes).
"""

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

COLLECTION_LIMIT = 200
API_PATH = re.compile(r"^/services/data/v(\d+)\.(\d+)/(.*)$")
# Key prefixes of a few standard objects; custom objects get a00.
KEY_PREFIXES = {"Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006", "Case": "500", "Task": "00T"}
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(object_name, number):
    """An 18-character Salesforce-style id: key prefix, 12 base-62 digits, and the 3-character case checksum."""
    digits = ""
    for _ in range(12):
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    short = KEY_PREFIXES.get(object_name, "a00") + digits
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(short[chunk * 5:chunk * 5 + 5]) if c.isupper())
        suffix += CHECKSUM[bits]
    return short + suffix


class Store:
    """Records in SQLite, keyed by (object, external id field, value); no uniqueness, so duplicates can be seeded."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, object TEXT NOT NULL, "
            "external_field TEXT NOT NULL, external_value TEXT NOT NULL, fields TEXT NOT NULL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS records_key ON records (object, external_field, external_value)")
        self.db.execute("CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)")
        if self.db.execute("SELECT count(*) FROM counter").fetchone()[0] == 0:
            self.db.execute("INSERT INTO counter VALUES (0)")

    def new_id(self, object_name):
        self.db.execute("UPDATE counter SET n = n + 1")
        number = self.db.execute("SELECT n FROM counter").fetchone()[0]
        return salesforce_id(object_name, 1_000_000 + number)

    def matches(self, object_name, field, value):
        rows = self.db.execute(
            "SELECT id, fields FROM records WHERE object = ? AND external_field = ? AND external_value = ?",
            (object_name, field, value)).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def upsert(self, object_name, field, value, fields):
        """Returns ("created"|"updated", id) or ("multiple", [ids]); the caller holds the lock."""
        found = self.matches(object_name, field, value)
        if len(found) > 1:
            return "multiple", [record_id for record_id, _ in found]
        fields = {name: v for name, v in fields.items() if name != "attributes"}
        fields[field] = value
        if found:
            record_id, stored = found[0]
            stored.update(fields)
            self.db.execute("UPDATE records SET fields = ? WHERE id = ?", (json.dumps(stored), record_id))
            return "updated", record_id
        record_id = self.new_id(object_name)
        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                        (record_id, object_name, field, value, json.dumps(fields)))
        return "created", record_id

    def seed(self, object_name, field, value, fields, copies):
        ids = []
        for _ in range(copies):
            record_id = self.new_id(object_name)
            stored = dict(fields)
            stored[field] = value
            self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?)",
                            (record_id, object_name, field, value, json.dumps(stored)))
            ids.append(record_id)
        return ids

    def all(self, object_name):
        sql = "SELECT id, object, external_field, external_value, fields FROM records"
        rows = self.db.execute(sql + (" WHERE object = ?" if object_name else "") + " ORDER BY rowid",
                               (object_name,) if object_name else ()).fetchall()
        return [{"Id": r[0], "object": r[1], "externalIdField": r[2], "externalId": r[3], "fields": json.loads(r[4])}
                for r in rows]


class Faults:
    """The fault switches; every change and every consumption happens under the lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state = {"fail_next": 0, "fail_status": 503, "retry_after": None, "delay_ms": 0, "delay_next": 0,
                      "drop_next": 0}

    def update(self, changes):
        with self.lock:
            for key, value in changes.items():
                if key not in self.state:
                    raise ValueError(f"unknown fault switch {key!r}; known: {', '.join(sorted(self.state))}")
                self.state[key] = value
            return dict(self.state)

    def take(self):
        """Decides the fate of one API request: ("drop"|"fail"|None, delay seconds)."""
        with self.lock:
            action = None
            if self.state["drop_next"] > 0:
                self.state["drop_next"] -= 1
                action = "drop"
            elif self.state["fail_next"] > 0:
                self.state["fail_next"] -= 1
                action = "fail"
            delay = 0.0
            if action is None and self.state["delay_ms"] > 0 and self.state["delay_next"] != 0:
                if self.state["delay_next"] > 0:
                    self.state["delay_next"] -= 1
                delay = self.state["delay_ms"] / 1000
            return action, delay, self.state["fail_status"], self.state["retry_after"]


def error_body(code, message, fields=None):
    return [{"message": message, "errorCode": code, "fields": fields or []}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crm-standin/1"

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("crm-standin: " + (format % args) + "\n")

    # -- plumbing

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def count(self, kind, key):
        with self.server.stats_lock:
            self.server.stats[kind][key] = self.server.stats[kind].get(key, 0) + 1

    # -- verbs

    def do_GET(self):
        self.dispatch("GET")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        body = self.read_body()
        url = urlsplit(self.path)
        if url.path.startswith("/__"):
            return self.control(method, url, body)
        match = API_PATH.match(url.path)
        if not match:
            return self.reply(404, error_body("NOT_FOUND", "The requested resource does not exist"))
        with self.server.stats_lock:
            self.server.stats["total"] += 1
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self.reply(401, error_body("INVALID_SESSION_ID", "Session expired or invalid"))
        version = (int(match.group(1)), int(match.group(2)))
        parts = [unquote(p) for p in match.group(3).split("/")]
        keys = self.record_keys(method, parts, body)
        for key in keys:
            self.count("requests", key)
        action, delay, fail_status, retry_after = self.server.faults.take()
        if action == "drop":
            return self.drop()
        if action == "fail":
            headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
            code = "REQUEST_LIMIT_EXCEEDED" if fail_status == 429 else "SERVER_UNAVAILABLE"
            return self.reply(fail_status, error_body(code, f"injected fault: HTTP {fail_status}"), headers)
        status, answer = self.api(method, version, parts, body)
        if delay:
            time.sleep(delay)
        self.reply(status, answer)

    def record_keys(self, method, parts, body):
        """The Object/Field/value keys a write request addresses, for /__stats."""
        if method == "PATCH" and len(parts) == 4 and parts[0] == "sobjects":
            return ["/".join(parts[1:])]
        if method == "PATCH" and len(parts) == 4 and parts[:2] == ["composite", "sobjects"]:
            try:
                records = json.loads(body or b"{}").get("records", [])
                return [f"{parts[2]}/{parts[3]}/{r.get(parts[3])}" for r in records if isinstance(r, dict)]
            except (ValueError, AttributeError):
                return []
        return []

    def api(self, method, version, parts, body):
        store = self.server.store
        prefix = f"/services/data/v{version[0]}.{version[1]}"
        if len(parts) == 4 and parts[0] == "sobjects" and method in ("GET", "PATCH"):
            object_name, field, value = parts[1:]
            with store.lock:
                if method == "GET":
                    found = store.matches(object_name, field, value)
                    if not found:
                        return 404, error_body("NOT_FOUND", "The requested resource does not exist")
                    if len(found) > 1:
                        return 300, [f"{prefix}/sobjects/{object_name}/{i}" for i, _ in found]
                    record_id, fields = found[0]
                    url = f"{prefix}/sobjects/{object_name}/{record_id}"
                    return 200, {"attributes": {"type": object_name, "url": url}, "Id": record_id, **fields}
                try:
                    fields = json.loads(body or b"{}")
                except ValueError as error:
                    return 400, error_body("JSON_PARSER_ERROR", f"The request body is not JSON: {error}")
                if not isinstance(fields, dict):
                    return 400, error_body("JSON_PARSER_ERROR", "The request body must be a JSON object")
                if "Id" in fields:
                    return 400, error_body("INVALID_FIELD", "Id is not allowed in an upsert by external id", ["Id"])
                outcome, record_id = store.upsert(object_name, field, value, fields)
            if outcome == "multiple":
                return 300, [f"{prefix}/sobjects/{object_name}/{i}" for i in record_id]
            self.count("writes", "/".join(parts[1:]))
            if outcome == "updated" and version < (46, 0):
                return 204, None
            return (201 if outcome == "created" else 200), {
                "id": record_id, "success": True, "errors": [], "created": outcome == "created"}
        if len(parts) == 4 and parts[:2] == ["composite", "sobjects"] and method == "PATCH":
            return self.collection(parts[2], parts[3], body)
        return 404, error_body("NOT_FOUND", "The requested resource does not exist")

    def collection(self, object_name, field, body):
        try:
            request = json.loads(body or b"{}")
            records = request["records"]
            if not isinstance(records, list):
                raise ValueError("records is not an array")
        except (ValueError, KeyError, TypeError) as error:
            return 400, error_body("JSON_PARSER_ERROR", f"Malformed collection request: {error}")
        if len(records) > COLLECTION_LIMIT:
            return 400, error_body(
                "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records "
                "into this call")
        all_or_none = request.get("allOrNone", False) is True
        store = self.server.store
        results = []
        with store.lock:
            store.db.execute("BEGIN")
            for record in records:
                results.append(self.collection_item(object_name, field, record))
            failed = any(not r["success"] for r in results)
            if all_or_none and failed:
                store.db.execute("ROLLBACK")
                results = [r if not r["success"] else {
                    "id": None, "success": False, "errors": [{
                        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "message": "Record rolled back because not all records were valid and the request was "
                                   "using AllOrNone header", "fields": []}]} for r in results]
            else:
                store.db.execute("COMMIT")
                for record, result in zip(records, results):
                    if result["success"]:
                        self.count("writes", f"{object_name}/{field}/{record.get(field)}")
        return 200, results

    def collection_item(self, object_name, field, record):
        def failure(code, message, fields=()):
            return {"id": None, "success": False, "errors": [
                {"statusCode": code, "message": message, "fields": list(fields)}]}

        if not isinstance(record, dict):
            return failure("JSON_PARSER_ERROR", "each record must be a JSON object")
        kind = (record.get("attributes") or {}).get("type")
        if kind != object_name:
            return failure("INVALID_TYPE", f"attributes.type must be {object_name}, not {kind}")
        value = record.get(field)
        if value is None or value == "":
            return failure("MISSING_ARGUMENT", f"{field} not specified", [field])
        if "Id" in record:
            return failure("INVALID_FIELD", "Id is not allowed in an upsert by external id", ["Id"])
        outcome, record_id = self.server.store.upsert(object_name, field, str(value), record)
        if outcome == "multiple":
            return failure("DUPLICATE_EXTERNAL_ID",
                           f"The external ID {value} matches more than one {object_name}: {', '.join(record_id)}",
                           [field])
        return {"id": record_id, "success": True, "errors": [], "created": outcome == "created"}

    def control(self, method, url, body):
        try:
            payload = json.loads(body) if body else {}
        except ValueError as error:
            return self.reply(400, {"error": f"body is not JSON: {error}"})
        if method == "GET" and url.path == "/__records":
            object_name = parse_qs(url.query).get("object", [None])[0]
            with self.server.store.lock:
                return self.reply(200, self.server.store.all(object_name))
        if method == "GET" and url.path == "/__stats":
            with self.server.stats_lock:
                return self.reply(200, self.server.stats)
        if method == "POST" and url.path == "/__seed":
            try:
                with self.server.store.lock:
                    ids = self.server.store.seed(payload["object"], payload["externalIdField"],
                                                 str(payload["externalId"]), payload.get("fields", {}),
                                                 int(payload.get("copies", 1)))
            except (KeyError, TypeError, ValueError) as error:
                return self.reply(400, {"error": f"seed needs object, externalIdField, externalId: {error}"})
            return self.reply(200, {"ids": ids})
        if method == "POST" and url.path == "/__faults":
            try:
                return self.reply(200, self.server.faults.update(payload))
            except ValueError as error:
                return self.reply(400, {"error": str(error)})
        return self.reply(404, {"error": f"no control endpoint {method} {url.path}"})


class StandInServer(ThreadingHTTPServer):
    """A threading HTTP server that treats a client hanging up mid-answer (a test killing its client, a timeout)
    as the ordinary event it is: one line with --verbose, never a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            if self.verbose:
                print(f"stand-in: {client_address[0]}:{client_address[1]} hung up: {error}", file=sys.stderr)
            return
        super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(
        description="A stand-in for the Salesforce REST upsert subset CallLedger's CRM connector uses, backed by "
                    "SQLite, with fault injection for tests. See the module docstring for the endpoints.")
    parser.add_argument("--db", required=True, help="SQLite file holding the records (created when absent)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--token", required=True, help="the bearer token every API request must carry")
    parser.add_argument("--fail-next", type=int, default=0, metavar="N", help="fail the next N API requests")
    parser.add_argument("--fail-status", type=int, default=503, metavar="S",
                        help="the status of failed requests, e.g. 429 or 500 (default 503)")
    parser.add_argument("--retry-after", type=int, metavar="SECONDS",
                        help="send Retry-After: SECONDS with failed requests")
    parser.add_argument("--delay-ms", type=int, default=0, metavar="M", help="send API responses M ms late")
    parser.add_argument("--delay-next", type=int, default=-1, metavar="N",
                        help="delay only the next N API responses (default: all of them)")
    parser.add_argument("--drop-next", type=int, default=0, metavar="N",
                        help="close the connection without answering the next N API requests")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when standard input closes (a test harness that dies leaves no server behind)")
    args = parser.parse_args()

    # A launcher may hand down a blocked SIGTERM (Foundation's Process does, from Swift Testing's threads).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.exit_with_stdin:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()

    server = StandInServer((args.host, args.port), Handler)
    server.store = Store(args.db)
    server.token = args.token
    server.verbose = args.verbose
    server.faults = Faults()
    server.faults.update({"fail_next": args.fail_next, "fail_status": args.fail_status,
                          "retry_after": args.retry_after, "delay_ms": args.delay_ms,
                          "delay_next": args.delay_next, "drop_next": args.drop_next})
    server.stats_lock = threading.Lock()
    server.stats = {"requests": {}, "writes": {}, "total": 0}
    host, port = server.server_address[:2]
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
