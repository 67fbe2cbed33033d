/* Baseline: an event table in SQLite, WAL, synchronous=FULL, one transaction per batch of 1000, a prepared
 * insert, a JSON payload column and an index on call id. Prints one JSON line with events/s. */
#include <sqlite3.h>
#include "common.h"

static void check(int status, sqlite3 *db, const char *what) {
    if (status != SQLITE_OK && status != SQLITE_DONE) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sqlite_baseline EVENTS.jsonl DB BATCH\n"); return 2; }
    size_t count, bytes;
    char **lines = read_lines(argv[1], &count, &bytes);
    int batch = atoi(argv[3]);
    sqlite3 *db;
    check(sqlite3_open(argv[2], &db), db, "open");
    check(sqlite3_exec(db,
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" SQLITE_EVENTS_SCHEMA, 0, 0, 0), db, "schema");
    sqlite3_stmt *insert;
    check(sqlite3_prepare_v2(db, "INSERT INTO events(call, type, idempotency, payload) VALUES (?1, ?2, ?3, ?4)",
        -1, &insert, 0), db, "prepare");
    double start = now_seconds();
    for (size_t i = 0; i < count; i += batch) {
        check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
        for (size_t j = i; j < count && j < i + batch; j++) {
            field_t call = extract(lines[j], "call"), type = extract(lines[j], "type"),
                    key = extract(lines[j], "idempotency");
            sqlite3_bind_text(insert, 1, call.start, (int)call.length, SQLITE_STATIC);
            sqlite3_bind_text(insert, 2, type.start, (int)type.length, SQLITE_STATIC);
            sqlite3_bind_text(insert, 3, key.start, (int)key.length, SQLITE_STATIC);
            sqlite3_bind_text(insert, 4, lines[j], -1, SQLITE_STATIC);
            check(sqlite3_step(insert), db, "insert");
            sqlite3_reset(insert);
        }
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    double seconds = now_seconds() - start;
    sqlite3_finalize(insert);
    sqlite3_close(db);
    printf("{\"baseline\":\"sqlite\",\"events\":%zu,\"input_bytes\":%zu,\"seconds\":%.3f,\"events_per_second\":%.0f,"
           "\"mb_per_second\":%.1f}\n", count, bytes, seconds, count / seconds, bytes / seconds / 1e6);
    return 0;
}
