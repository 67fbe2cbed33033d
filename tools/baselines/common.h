/* Shared by the benchmark baselines: read JSON lines, pull out call id, type and idempotency key with
 * plain string scanning (no JSON parser), as a skilled engineer would for an event table. */
#ifndef BASELINE_COMMON_H
#define BASELINE_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const char *start; size_t length; } field_t;

/* The SQLite event table of the baselines (sqlite_baseline.c writes it, sqlite_transcript_baseline.c reads it):
 * one row per event, the whole interchange line as the JSON payload, and an index on call id. */
#define SQLITE_EVENTS_SCHEMA \
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, call TEXT NOT NULL, type TEXT NOT NULL," \
    " idempotency TEXT NOT NULL, payload TEXT NOT NULL);" \
    "CREATE INDEX events_call ON events(call);"

/* The string value of top-level key `key` ("call", "type", "idempotency") in an envelope line. */
static field_t extract(const char *line, const char *key) {
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    field_t f = {"", 0};
    const char *p = strstr(line, pattern);
    if (!p) return f;
    p += strlen(pattern);
    const char *end = strchr(p, '"');
    if (!end) return f;
    f.start = p;
    f.length = (size_t)(end - p);
    return f;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the whole file into one buffer and splits it into lines in place (so the timed part measures the
 * database, not line handling); the returned lines point into that buffer. */
static char **read_lines(const char *path, size_t *count, size_t *bytes) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); exit(1); }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *buffer = malloc((size_t)size + 1);
    if (fread(buffer, 1, (size_t)size, file) != (size_t)size) { perror(path); exit(1); }
    buffer[size] = 0;
    fclose(file);
    *bytes = (size_t)size;
    size_t capacity = 1 << 16, n = 0;
    char **lines = malloc(capacity * sizeof *lines);
    char *line = buffer;
    while (line < buffer + size) {
        char *end = memchr(line, '\n', (size_t)(buffer + size - line));
        if (!end) end = buffer + size;
        *end = 0;
        if (end > line) {
            if (n == capacity) { capacity *= 2; lines = realloc(lines, capacity * sizeof *lines); }
            lines[n++] = line;
        }
        line = end + 1;
    }
    *count = n;
    return lines;
}
#endif
