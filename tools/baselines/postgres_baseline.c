/* Baseline: an event table in PostgreSQL, jsonb payload, index on call id, one COPY per batch of 1000,
 * synchronous_commit=on. Prints one JSON line with events/s. */
#include <libpq-fe.h>
#include "common.h"

static void check(PGresult *result, PGconn *conn, ExecStatusType want, const char *what) {
    if (PQresultStatus(result) != want) {
        fprintf(stderr, "%s: %s\n", what, PQerrorMessage(conn));
        exit(1);
    }
    PQclear(result);
}

/* Appends `text` escaped for COPY's text format. */
static size_t escape(char *out, const char *text, size_t length) {
    size_t n = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '\\') { out[n++] = '\\'; out[n++] = '\\'; }
        else if (c == '\t') { out[n++] = '\\'; out[n++] = 't'; }
        else if (c == '\n') { out[n++] = '\\'; out[n++] = 'n'; }
        else if (c == '\r') { out[n++] = '\\'; out[n++] = 'r'; }
        else out[n++] = c;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: postgres_baseline EVENTS.jsonl CONNINFO BATCH\n"); return 2; }
    size_t count, bytes;
    char **lines = read_lines(argv[1], &count, &bytes);
    int batch = atoi(argv[3]);
    PGconn *conn = PQconnectdb(argv[2]);
    if (PQstatus(conn) != CONNECTION_OK) { fprintf(stderr, "connect: %s\n", PQerrorMessage(conn)); return 1; }
    check(PQexec(conn, "SET synchronous_commit = on"), conn, PGRES_COMMAND_OK, "set");
    check(PQexec(conn, "DROP TABLE IF EXISTS events"), conn, PGRES_COMMAND_OK, "drop");
    check(PQexec(conn, "CREATE TABLE events(seq bigserial PRIMARY KEY, call text NOT NULL, type text NOT NULL,"
        " idempotency text NOT NULL, payload jsonb NOT NULL)"), conn, PGRES_COMMAND_OK, "create");
    check(PQexec(conn, "CREATE INDEX events_call ON events(call)"), conn, PGRES_COMMAND_OK, "index");
    size_t capacity = 1 << 20;
    char *buffer = malloc(capacity);
    double start = now_seconds();
    for (size_t i = 0; i < count; i += batch) {
        check(PQexec(conn, "COPY events(call, type, idempotency, payload) FROM STDIN"), conn, PGRES_COPY_IN, "copy");
        size_t used = 0;
        for (size_t j = i; j < count && j < i + batch; j++) {
            size_t length = strlen(lines[j]);
            if (used + 2 * length + 1024 > capacity) {
                if (PQputCopyData(conn, buffer, (int)used) != 1) { fprintf(stderr, "put\n"); return 1; }
                used = 0;
            }
            field_t call = extract(lines[j], "call"), type = extract(lines[j], "type"),
                    key = extract(lines[j], "idempotency");
            used += escape(buffer + used, call.start, call.length); buffer[used++] = '\t';
            used += escape(buffer + used, type.start, type.length); buffer[used++] = '\t';
            used += escape(buffer + used, key.start, key.length); buffer[used++] = '\t';
            used += escape(buffer + used, lines[j], length); buffer[used++] = '\n';
        }
        if (PQputCopyData(conn, buffer, (int)used) != 1 || PQputCopyEnd(conn, NULL) != 1) {
            fprintf(stderr, "copy end: %s\n", PQerrorMessage(conn));
            return 1;
        }
        check(PQgetResult(conn), conn, PGRES_COMMAND_OK, "copy result");
    }
    double seconds = now_seconds() - start;
    PQfinish(conn);
    printf("{\"baseline\":\"postgresql\",\"events\":%zu,\"input_bytes\":%zu,\"seconds\":%.3f,\"events_per_second\":%.0f,"
           "\"mb_per_second\":%.1f}\n", count, bytes, seconds, count / seconds, bytes / seconds / 1e6);
    return 0;
}
