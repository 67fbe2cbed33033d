// CCurl: the libcurl easy API used by LedgerConnectors' HTTPClient, loaded on first use. libcurl brings about 25
// shared libraries with it (TLS, Kerberos, LDAP, IDN, HTTP/2...), and loading them cost every call-ledger process
// about 3.3 ms of CPU at start (a C program linked with -lcurl against one that is not: 3.72 against 0.38 ms),
// though only CRM commands and connectors send HTTP; so nothing links libcurl, and the first call here opens
// libcurl.so.4 with dlopen and looks its functions up once. curl_easy_setopt and curl_easy_getinfo are variadic
// and cannot be called from Swift, so each argument kind gets a typed wrapper. Every wrapper answers
// CURLE_FAILED_INIT (or NULL) when libcurl cannot be loaded; `call_ledger_curl_load_error` says why.
#ifndef CALL_LEDGER_CCURL_SHIM_H
#define CALL_LEDGER_CCURL_SHIM_H
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

/// A body or header callback: receives `size * count` bytes and returns how many it consumed.
typedef size_t (*call_ledger_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// The libcurl functions HTTPClient uses, looked up in the loaded library.
struct call_ledger_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *handle);
    void (*easy_reset)(CURL *handle);
    CURLcode (*easy_perform)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *line);
    void (*slist_free_all)(struct curl_slist *list);
};

/// The loaded functions and, when loading failed, why (dlerror's text).
struct call_ledger_curl_state {
    struct call_ledger_curl_api api;
    int loaded;
    const char *error;
};

/// The process's one loading state (a static inline function keeps one copy per module, and only
/// LedgerConnectors imports this header).
static inline struct call_ledger_curl_state *call_ledger_curl_state(void) {
    static struct call_ledger_curl_state state;
    return &state;
}

/// Opens libcurl.so.4 and looks up every function HTTPClient uses; run once, through pthread_once.
static inline void call_ledger_curl_load(void) {
    struct call_ledger_curl_state *state = call_ledger_curl_state();
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        state->error = reason != NULL ? strdup(reason) : "libcurl.so.4 could not be loaded";
        return;
    }
    struct call_ledger_curl_api *api = &state->api;
    api->global_init = (CURLcode(*)(long))dlsym(library, "curl_global_init");
    api->easy_init = (CURL * (*)(void)) dlsym(library, "curl_easy_init");
    api->easy_cleanup = (void (*)(CURL *))dlsym(library, "curl_easy_cleanup");
    api->easy_reset = (void (*)(CURL *))dlsym(library, "curl_easy_reset");
    api->easy_perform = (CURLcode(*)(CURL *))dlsym(library, "curl_easy_perform");
    api->easy_strerror = (const char *(*)(CURLcode))dlsym(library, "curl_easy_strerror");
    api->easy_setopt = (CURLcode(*)(CURL *, CURLoption, ...))dlsym(library, "curl_easy_setopt");
    api->easy_getinfo = (CURLcode(*)(CURL *, CURLINFO, ...))dlsym(library, "curl_easy_getinfo");
    api->slist_append = (struct curl_slist * (*)(struct curl_slist *, const char *)) dlsym(library, "curl_slist_append");
    api->slist_free_all = (void (*)(struct curl_slist *))dlsym(library, "curl_slist_free_all");
    if (!api->global_init || !api->easy_init || !api->easy_cleanup || !api->easy_reset || !api->easy_perform
        || !api->easy_strerror || !api->easy_setopt || !api->easy_getinfo || !api->slist_append
        || !api->slist_free_all) {
        state->error = "libcurl.so.4 lacks a function call-ledger uses";
        return;
    }
    state->loaded = 1;
}

/// The libcurl functions, loading libcurl on the first call; NULL when it cannot be loaded.
static inline const struct call_ledger_curl_api *call_ledger_curl(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, call_ledger_curl_load);
    struct call_ledger_curl_state *state = call_ledger_curl_state();
    return state->loaded ? &state->api : NULL;
}

/// Why libcurl could not be loaded, or NULL when it was (or was not tried yet).
static inline const char *call_ledger_curl_load_error(void) { return call_ledger_curl_state()->error; }

/// Initialises libcurl's global state (SSL included); call once before any handle is made.
static inline CURLcode call_ledger_curl_global_init(void) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->global_init(CURL_GLOBAL_ALL) : CURLE_FAILED_INIT;
}

/// A new easy handle, or NULL.
static inline CURL *call_ledger_curl_easy_init(void) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_init() : NULL;
}

/// Frees an easy handle.
static inline void call_ledger_curl_easy_cleanup(CURL *handle) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    if (curl) curl->easy_cleanup(handle);
}

/// Resets every option of an easy handle, keeping its connections.
static inline void call_ledger_curl_easy_reset(CURL *handle) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    if (curl) curl->easy_reset(handle);
}

/// Runs the transfer set up on `handle`.
static inline CURLcode call_ledger_curl_easy_perform(CURL *handle) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_perform(handle) : CURLE_FAILED_INIT;
}

/// libcurl's text for `code`.
static inline const char *call_ledger_curl_easy_strerror(CURLcode code) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_strerror(code) : "libcurl could not be loaded";
}

/// Appends a header line to a list (NULL on failure).
static inline struct curl_slist *call_ledger_curl_slist_append(struct curl_slist *list, const char *line) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->slist_append(list, line) : NULL;
}

/// Frees a header list.
static inline void call_ledger_curl_slist_free_all(struct curl_slist *list) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    if (curl) curl->slist_free_all(list);
}

/// Sets a string option (libcurl copies the string).
static inline CURLcode call_ledger_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Sets a long option (flags, milliseconds, sizes).
static inline CURLcode call_ledger_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Sets a curl_off_t option (large sizes).
static inline CURLcode call_ledger_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Sets a pointer option (callback context, error buffer, copied body).
static inline CURLcode call_ledger_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Sets a header list option; the list must outlive the transfer.
static inline CURLcode call_ledger_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Sets a body or header callback option.
static inline CURLcode call_ledger_curl_setopt_callback(
    CURL *handle, CURLoption option, call_ledger_curl_data_callback value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}

/// Reads a long transfer property (the response status code).
static inline CURLcode call_ledger_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    const struct call_ledger_curl_api *curl = call_ledger_curl();
    return curl ? curl->easy_getinfo(handle, info, value) : CURLE_FAILED_INIT;
}

#endif
