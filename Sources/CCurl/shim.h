// CCurl: the libcurl easy API used by LedgerConnectors' HTTPClient. curl_easy_setopt and curl_easy_getinfo are
// variadic and cannot be called from Swift, so each argument kind gets a typed static inline wrapper here.
#ifndef CALL_LEDGER_CCURL_SHIM_H
#define CALL_LEDGER_CCURL_SHIM_H
#include <curl/curl.h>

/// A body or header callback: receives `size * count` bytes and returns how many it consumed.
typedef size_t (*call_ledger_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// Initialises libcurl's global state (SSL included); call once before any handle is made.
static inline CURLcode call_ledger_curl_global_init(void) { return curl_global_init(CURL_GLOBAL_ALL); }

/// Sets a string option (libcurl copies the string).
static inline CURLcode call_ledger_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Sets a long option (flags, milliseconds, sizes).
static inline CURLcode call_ledger_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// Sets a curl_off_t option (large sizes).
static inline CURLcode call_ledger_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// Sets a pointer option (callback context, error buffer, copied body).
static inline CURLcode call_ledger_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Sets a header list option; the list must outlive the transfer.
static inline CURLcode call_ledger_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/// Sets a body or header callback option.
static inline CURLcode call_ledger_curl_setopt_callback(
    CURL *handle, CURLoption option, call_ledger_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/// Reads a long transfer property (the response status code).
static inline CURLcode call_ledger_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

#endif
