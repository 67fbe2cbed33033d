/* Baseline for `call-ledger transcript CALL`: the SQLite event table of sqlite_baseline.c answering the same
 * query, "select the call's events by call id and fold them".
 *
 *   sqlite_transcript_baseline load EVENTS.jsonl DB BATCH   fill the table (same schema, pragmas, insert and
 *                                                           field extraction as sqlite_baseline.c; the file is
 *                                                           streamed line by line instead of read whole)
 *   sqlite_transcript_baseline query DB CALLS_FILE          time one transcript per call id (one per line)
 *
 * The query mode prepares one statement, then for each call: binds the call id, steps through the call's
 * events in seq order (index on call), with the fields the fold needs pulled out by SQLite's json_extract
 * (SQLite parses each payload once per row and shares the parse between the json_extract calls of the row),
 * and folds them in C the way the transcript projection does:
 *   - transcript.segment: one line per utterance (keyed by source and utterance id); a final supersedes the
 *     partials of its utterance and a later final an earlier one; with no final, the latest partial is shown;
 *     role, start/end and text are copied (a text given as spans is concatenated; JSON escapes are copied as
 *     they are, not decoded);
 *   - enrichment.result: kept with its kind and raw result, and attached to every line whose utterance id it
 *     names; one naming no known utterance stays with the call;
 *   - call.started / call.ended: start time, agent, queue and duration for the call summary;
 *   - lines ordered by (start_ms, end_ms, seq).
 * Per call, the time from binding the id to the ordered, attached transcript is measured with
 * CLOCK_MONOTONIC; one JSON line reports p50/p99/mean/max in ms (nearest rank, as ledger-bench does) and the
 * totals of lines and enrichments, which tools/bench compares with call-ledger's answer. The payloads are
 * plaintext here: the ledger's copies are sealed (AES-256-GCM per call and data class) and opened per read. */
#include <sqlite3.h>
#include "common.h"

static void check(int status, sqlite3 *db, const char *what) {
    if (status != SQLITE_OK && status != SQLITE_DONE && status != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

/* ---- load ---------------------------------------------------------------------------------------------- */

static int load(const char *events_path, const char *db_path, int batch) {
    FILE *file = fopen(events_path, "r");
    if (!file) { perror(events_path); return 1; }
    sqlite3 *db;
    check(sqlite3_open(db_path, &db), db, "open");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" SQLITE_EVENTS_SCHEMA, 0, 0, 0), db,
        "schema");
    sqlite3_stmt *insert;
    check(sqlite3_prepare_v2(db, "INSERT INTO events(call, type, idempotency, payload) VALUES (?1, ?2, ?3, ?4)",
        -1, &insert, 0), db, "prepare");
    char *line = NULL;
    size_t capacity = 0, count = 0, bytes = 0;
    ssize_t length;
    double start = now_seconds();
    check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
    while ((length = getline(&line, &capacity, file)) > 0) {
        bytes += (size_t)length;
        if (line[length - 1] == '\n') line[--length] = 0;
        if (length == 0) continue;
        field_t call = extract(line, "call"), type = extract(line, "type"), key = extract(line, "idempotency");
        sqlite3_bind_text(insert, 1, call.start, (int)call.length, SQLITE_STATIC);
        sqlite3_bind_text(insert, 2, type.start, (int)type.length, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, key.start, (int)key.length, SQLITE_STATIC);
        sqlite3_bind_text(insert, 4, line, (int)length, SQLITE_STATIC);
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
        if (++count % (size_t)batch == 0) {
            check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
            check(sqlite3_exec(db, "BEGIN", 0, 0, 0), db, "begin");
        }
    }
    check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    double seconds = now_seconds() - start;
    free(line);
    fclose(file);
    sqlite3_finalize(insert);
    check(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0), db, "checkpoint");
    sqlite3_close(db);
    printf("{\"baseline\":\"sqlite\",\"loaded_events\":%zu,\"input_bytes\":%zu,\"seconds\":%.3f,"
           "\"events_per_second\":%.0f}\n", count, bytes, seconds, count / seconds);
    return 0;
}

/* ---- the per-call fold --------------------------------------------------------------------------------- */

/* A bump allocator reset for every call: everything a transcript holds lives here. */
static struct { char *base; size_t used, size; } arena;

static void *arena_alloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (arena.used + size > arena.size) { fprintf(stderr, "arena exhausted\n"); exit(1); }
    void *p = arena.base + arena.used;
    arena.used += size;
    return p;
}

static char *arena_copy(const unsigned char *text, int length) {
    char *copy = arena_alloc((size_t)length + 1);
    if (length) memcpy(copy, text, (size_t)length);
    copy[length] = 0;
    return copy;
}

/* A column's text copied into the arena ("" for NULL). */
static char *column_copy(sqlite3_stmt *row, int column) {
    const unsigned char *text = sqlite3_column_text(row, column);
    return arena_copy(text ? text : (const unsigned char *)"", sqlite3_column_bytes(row, column));
}

typedef struct {
    long long seq;
    char *kind, *result, *utterances; /* utterances: the JSON array of ids, as text */
} note_t;

typedef struct {
    char *key, *utterance, *role, *text;
    long long seq, start_ms, end_ms;
    int is_final, versions, superseded;
    int *notes, note_count, note_capacity;
    int next_same_utterance; /* chain of lines sharing an utterance id (different sources), -1 at its end */
} line_t;

typedef struct {
    line_t *lines; int line_count, line_capacity;
    note_t *notes; int note_count, note_capacity;
    int *slots; unsigned slot_mask; /* open addressing: line index + 1 by key, 0 when free */
    char *started_at, *agent, *queue; long long duration_ms;
    int call_level_notes;
} transcript_t;

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* The slot of `key` among the lines (free, or holding the line with that key). */
static int *slot_of(transcript_t *t, const char *key) {
    for (unsigned i = hash(key) & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        if (!t->slots[i] || !strcmp(t->lines[t->slots[i] - 1].key, key)) return &t->slots[i];
    }
}

static void grow_slots(transcript_t *t) {
    unsigned size = (t->slot_mask + 1) * 2;
    t->slots = arena_alloc(size * sizeof *t->slots);
    memset(t->slots, 0, size * sizeof *t->slots);
    t->slot_mask = size - 1;
    for (int i = 0; i < t->line_count; i++) *slot_of(t, t->lines[i].key) = i + 1;
}

static void *grow(void *items, int count, int *capacity, size_t item) {
    if (count < *capacity) return items;
    int next = *capacity ? *capacity * 2 : 64;
    void *bigger = arena_alloc((size_t)next * item);
    if (count) memcpy(bigger, items, (size_t)count * item);
    *capacity = next;
    return bigger;
}

/* The text of a segment: a JSON string's value as SQLite gives it, or the spans `[{"text":"..."},...]`
 * concatenated (escapes copied as they are). */
static char *segment_text(sqlite3_stmt *row, int column) {
    const char *text = (const char *)sqlite3_column_text(row, column);
    int length = sqlite3_column_bytes(row, column);
    if (!text) return arena_copy((const unsigned char *)"", 0);
    if (sqlite3_column_type(row, column) != SQLITE_TEXT || text[0] != '[')
        return arena_copy((const unsigned char *)text, length);
    char *out = arena_alloc((size_t)length + 1), *end = out;
    for (const char *p = strstr(text, "\"text\":\""); p; p = strstr(p, "\"text\":\"")) {
        p += 8;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) *end++ = *p++;
            *end++ = *p++;
        }
    }
    *end = 0;
    return out;
}

static void add_segment(transcript_t *t, sqlite3_stmt *row) {
    const char *source = (const char *)sqlite3_column_text(row, 2);
    const char *utterance = (const char *)sqlite3_column_text(row, 3);
    if (!source) source = "";
    if (!utterance) utterance = "";
    size_t source_length = strlen(source), utterance_length = strlen(utterance);
    char *key = arena_alloc(source_length + utterance_length + 2);
    memcpy(key, source, source_length);
    key[source_length] = '\x1f';
    memcpy(key + source_length + 1, utterance, utterance_length + 1);
    int is_final = sqlite3_column_int(row, 4);
    int *slot = slot_of(t, key);
    line_t *line;
    if (*slot) {
        line = &t->lines[*slot - 1];
        line->versions++;
        if (line->is_final && !is_final) return;
        line->superseded = line->versions - 1;
    } else {
        t->lines = grow(t->lines, t->line_count, &t->line_capacity, sizeof *t->lines);
        line = &t->lines[t->line_count++];
        *slot = t->line_count;
        memset(line, 0, sizeof *line);
        line->key = key;
        line->utterance = key + source_length + 1;
        line->versions = 1;
        if ((unsigned)t->line_count * 2 > t->slot_mask) grow_slots(t);
    }
    line->seq = sqlite3_column_int64(row, 0);
    line->is_final = is_final;
    line->role = column_copy(row, 5);
    line->start_ms = sqlite3_column_int64(row, 6);
    line->end_ms = sqlite3_column_int64(row, 7);
    line->text = segment_text(row, 8);
}

static int by_time(const void *a, const void *b) {
    const line_t *x = a, *y = b;
    if (x->start_ms != y->start_ms) return x->start_ms < y->start_ms ? -1 : 1;
    if (x->end_ms != y->end_ms) return x->end_ms < y->end_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Orders the lines and attaches every enrichment to the lines of the utterances it names. */
static void finish(transcript_t *t) {
    qsort(t->lines, (size_t)t->line_count, sizeof *t->lines, by_time);
    /* utterance id -> first line, then the chain: reuse the key slots, keyed by utterance id alone */
    unsigned size = t->slot_mask + 1;
    int *heads = arena_alloc(size * sizeof *heads);
    memset(heads, 0, size * sizeof *heads);
    for (int i = 0; i < t->line_count; i++) {
        unsigned j = hash(t->lines[i].utterance) & t->slot_mask;
        while (heads[j] && strcmp(t->lines[heads[j] - 1].utterance, t->lines[i].utterance))
            j = (j + 1) & t->slot_mask;
        t->lines[i].next_same_utterance = heads[j] ? heads[j] - 1 : -1;
        heads[j] = i + 1;
    }
    for (int n = 0; n < t->note_count; n++) {
        int attached = 0;
        char id[256];
        for (const char *p = strchr(t->notes[n].utterances, '"'); p; p = strchr(p + 1, '"')) {
            const char *end = strchr(p + 1, '"');
            if (!end) break;
            size_t length = (size_t)(end - p - 1);
            if (length >= sizeof id) length = sizeof id - 1;
            memcpy(id, p + 1, length);
            id[length] = 0;
            p = end;
            unsigned j = hash(id) & t->slot_mask;
            while (heads[j] && strcmp(t->lines[heads[j] - 1].utterance, id)) j = (j + 1) & t->slot_mask;
            for (int i = heads[j] ? heads[j] - 1 : -1; i >= 0; i = t->lines[i].next_same_utterance) {
                line_t *line = &t->lines[i];
                line->notes = grow(line->notes, line->note_count, &line->note_capacity, sizeof *line->notes);
                line->notes[line->note_count++] = n;
                attached = 1;
            }
        }
        if (!attached) t->call_level_notes++;
    }
}

static const char *QUERY =
    "SELECT seq, type, json_extract(payload, '$.source'), json_extract(payload, '$.body.utterance'),"
    " json_extract(payload, '$.body.final'), json_extract(payload, '$.body.role'),"
    " json_extract(payload, '$.body.start_ms'), json_extract(payload, '$.body.end_ms'),"
    " json_extract(payload, '$.body.text'), json_extract(payload, '$.body.utterances'),"
    " json_extract(payload, '$.body.kind'), json_extract(payload, '$.body.result'),"
    " json_extract(payload, '$.occurred'), json_extract(payload, '$.body.agent.id'),"
    " json_extract(payload, '$.body.queue.name'), json_extract(payload, '$.body.duration_ms')"
    " FROM events WHERE call = ?1"
    " AND type IN ('transcript.segment', 'enrichment.result', 'call.started', 'call.ended') ORDER BY seq";

static void read_transcript(sqlite3 *db, sqlite3_stmt *query, const char *call, transcript_t *t) {
    memset(t, 0, sizeof *t);
    t->slot_mask = 255;
    t->slots = arena_alloc(256 * sizeof *t->slots);
    memset(t->slots, 0, 256 * sizeof *t->slots);
    sqlite3_bind_text(query, 1, call, -1, SQLITE_STATIC);
    int status;
    while ((status = sqlite3_step(query)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(query, 1);
        if (!strcmp(type, "transcript.segment")) {
            add_segment(t, query);
        } else if (!strcmp(type, "enrichment.result")) {
            t->notes = grow(t->notes, t->note_count, &t->note_capacity, sizeof *t->notes);
            note_t *note = &t->notes[t->note_count++];
            note->seq = sqlite3_column_int64(query, 0);
            note->utterances = column_copy(query, 9);
            note->kind = column_copy(query, 10);
            note->result = column_copy(query, 11);
        } else if (!strcmp(type, "call.started")) {
            t->started_at = column_copy(query, 12);
            t->agent = column_copy(query, 13);
            t->queue = column_copy(query, 14);
        } else {
            t->duration_ms = sqlite3_column_int64(query, 15);
        }
    }
    check(status, db, "query");
    sqlite3_reset(query);
    finish(t);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t count, double fraction) {
    size_t rank = (size_t)(fraction * count + 0.999999999);
    return sorted[(rank ? rank : 1) - 1];
}

static int query(const char *db_path, const char *calls_path) {
    size_t count, bytes;
    char **calls = read_lines(calls_path, &count, &bytes);
    if (!count) { fprintf(stderr, "%s names no call\n", calls_path); return 1; }
    sqlite3 *db;
    check(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, 0), db, "open");
    sqlite3_stmt *statement;
    check(sqlite3_prepare_v2(db, QUERY, -1, &statement, 0), db, "prepare");
    arena.size = (size_t)256 << 20;
    arena.base = malloc(arena.size);
    double *ms = malloc(count * sizeof *ms), total = 0;
    long lines = 0, partial_lines = 0, attached = 0, call_level = 0;
    for (size_t i = 0; i < count; i++) {
        transcript_t t;
        arena.used = 0;
        double start = now_seconds();
        read_transcript(db, statement, calls[i], &t);
        ms[i] = (now_seconds() - start) * 1e3;
        total += ms[i];
        if (!t.line_count && !t.started_at) { fprintf(stderr, "no transcript for call %s\n", calls[i]); return 1; }
        lines += t.line_count;
        call_level += t.call_level_notes;
        for (int j = 0; j < t.line_count; j++) {
            partial_lines += !t.lines[j].is_final;
            attached += t.lines[j].note_count;
        }
    }
    qsort(ms, count, sizeof *ms, by_value);
    printf("{\"system\":\"sqlite\",\"calls\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"mean_ms\":%.3f,\"max_ms\":%.3f,"
           "\"lines\":%ld,\"partial_lines\":%ld,\"attached_enrichments\":%ld,\"call_enrichments\":%ld}\n",
        count, percentile(ms, count, 0.5), percentile(ms, count, 0.99), total / count, ms[count - 1], lines,
        partial_lines, attached, call_level);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "load")) return load(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && !strcmp(argv[1], "query")) return query(argv[2], argv[3]);
    fprintf(stderr, "usage: sqlite_transcript_baseline load EVENTS.jsonl DB BATCH\n"
                    "       sqlite_transcript_baseline query DB CALLS_FILE\n");
    return 2;
}
