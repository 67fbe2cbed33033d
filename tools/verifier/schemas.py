"""The member names of each event type's schema objects: the tables of FORMAT.md §10, by member path.

A field number is the position of the name in its tuple; ``body.words[]`` names the members of the objects of
the ``words`` array. Generated from FORMAT.md §10; a field is never renumbered, new ones are added at the end.
"""

from __future__ import annotations

SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    "call.started": {
        "body": (
            "channel", "initiation_method", "initiated_at", "connected_to_agent_at", "queue", "agent",
            "customer_endpoint", "system_endpoint", "tracks", "language", "instance", "previous_contact",
            "initial_contact", "updated_at", "connected_to_system_at", "next_contact",
        ),
        "body.queue": ("id", "name", "arn"),
        "body.agent": ("id", "name", "arn"),
        "body.customer_endpoint": ("type", "address"),
        "body.system_endpoint": ("type", "address"),
        "body.tracks[]": ("track", "role", "channel"),
    },
    "call.ended": {
        "body": (
            "disconnected_at", "disconnect_reason", "duration_ms", "agent_interaction_ms", "hold_ms", "hold_count",
            "recording", "updated_at", "recordings",
        ),
        "body.recording": ("location", "status", "type"),
        "body.recordings[]": (
            "location", "status", "type", "storage", "participant", "started_at", "stopped_at", "start_ms", "end_ms",
            "fragment_start", "fragment_stop",
        ),
    },
    "audio.fragment.received": {
        "body": (
            "stream", "fragment_number", "track", "producer_timestamp", "server_timestamp", "duration_ms", "bytes",
            "sha256", "audio", "byte_offset", "start_ms", "end_ms", "start_origin",
        ),
    },
    "transcript.segment": {
        "body": (
            "utterance", "final", "role", "track", "channel", "speaker", "start_ms", "end_ms", "text", "words",
            "confidence", "language", "provider", "model",
        ),
        "body.text[]": ("text", "pii"),
        "body.words[]": ("word", "start_ms", "end_ms", "confidence", "type", "pii"),
    },
    "enrichment.result": {
        "body": ("kind", "utterances", "start_ms", "end_ms", "provider", "model", "result", "channel"),
        "body.result": (
            "label", "score", "scores", "entities", "text", "code", "confidence", "names", "metrics", "values",
        ),
        "body.result.entities[]": (
            "type", "text", "utterance", "start_ms", "end_ms", "begin_offset", "end_offset", "confidence", "pii",
        ),
    },
    "crm.write": {
        "body": (
            "system", "object", "external_id_field", "external_id", "record_id", "fields", "mapping", "request_key",
            "status", "attempts", "error", "read_back",
        ),
        "body.mapping": ("name", "version", "digest"),
    },
    "crm.write.failed": {
        "body": (
            "system", "object", "external_id_field", "external_id", "record_id", "fields", "mapping", "request_key",
            "status", "attempts", "error", "read_back",
        ),
        "body.mapping": ("name", "version", "digest"),
    },
    "crm.write.started": {
        "body": (
            "system", "object", "external_id_field", "external_id", "field_names", "mapping", "request_key",
        ),
        "body.mapping": ("name", "version", "digest"),
    },
    "retention.policy.assigned": {
        "body": ("policy", "rule"),
        "body.policy": ("name", "version", "digest"),
    },
    "legal.hold.placed": {
        "body": ("hold", "reason", "by"),
    },
    "legal.hold.released": {
        "body": ("hold", "reason", "by"),
    },
    "retention.purged": {
        "body": ("classes", "policy", "method", "checkpoint"),
        "body.policy": ("name", "version", "digest"),
        "body.checkpoint": ("tree_size", "root"),
    },
    "retention.compacted": {
        "body": ("classes", "parts", "segments"),
    },
    "projection.definition.changed": {
        "body": ("projection", "definition", "path"),
        "body.definition": ("name", "version", "digest"),
    },
    "transcription.session": {
        "body": ("provider", "session", "state", "reason", "bytes", "error"),
    },
    "payment.authorized": {
        "body": ("authorized_at", "result", "reference", "processor"),
    },
    "access.granted": {
        "body": ("principal", "role", "purpose", "view", "classes", "request"),
    },
}
