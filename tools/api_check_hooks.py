"""schemathesis hooks for tools/api-check: the NDJSON media type of POST /v1/events.

A request body of `application/x-ndjson` (the schema says: a string of JSON lines) is sent as its UTF-8 bytes. An
NDJSON answer is one acknowledgement, rejection or failure per input line, each matching the operation's schema:
every line is parsed, and the first (if any) is handed to schemathesis to validate against that schema (the server tests
check every line of real answers).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_request(ctx, value):
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


@schemathesis.deserializer("application/x-ndjson")
def ndjson_response(ctx, response):
    lines = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    if not lines:
        # The answer to a body of no lines has no lines: nothing to validate (schemathesis reports it skipped).
        raise NotImplementedError("an NDJSON answer of no lines has nothing to validate")
    return lines[0]
