// CSQLite: the SQLite API used by LedgerStore's index and key store.
#ifndef CALL_LEDGER_CSQLITE_SHIM_H
#define CALL_LEDGER_CSQLITE_SHIM_H
#include <sqlite3.h>

/// Binds a copy of `text` (SQLITE_TRANSIENT), which Swift cannot spell.
static inline int call_ledger_sqlite3_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}

/// Binds a copy of `blob` (SQLITE_TRANSIENT), which Swift cannot spell.
static inline int call_ledger_sqlite3_bind_blob_copy(sqlite3_stmt *stmt, int index, const void *blob, int length) {
    return sqlite3_bind_blob(stmt, index, blob, length, SQLITE_TRANSIENT);
}

/// Turns off SQLite's memory statistics, which `sqlite3_config` (variadic, so not callable from Swift) must do
/// before SQLite initialises. With them on, every allocation of every connection takes one process-wide mutex, and
/// connections used side by side on several threads wait on it. Returns SQLITE_MISUSE once SQLite is initialised.
static inline int call_ledger_sqlite3_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
