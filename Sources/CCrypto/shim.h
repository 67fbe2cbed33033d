// CCrypto: the OpenSSL 3 libcrypto API used by LedgerCore: SHA-256, AES-256-GCM, Ed25519, random bytes.
#ifndef CALL_LEDGER_CCRYPTO_SHIM_H
#define CALL_LEDGER_CCRYPTO_SHIM_H
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

// OpenSSL 3's one-shot SHA256() fetches the algorithm on every call (a lock and string comparisons); the
// ledger hashes several times per event, so it fetches SHA-256 once and keeps one digest context per thread.

static inline EVP_MD *call_ledger_sha256_algorithm(void) {
    static EVP_MD *algorithm;
    EVP_MD *current = __atomic_load_n(&algorithm, __ATOMIC_ACQUIRE);
    if (current == NULL) {
        EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
        EVP_MD *expected = NULL;
        if (__atomic_compare_exchange_n(&algorithm, &expected, fetched, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            current = fetched;
        } else {
            EVP_MD_free(fetched);
            current = expected;
        }
    }
    return current;
}

static inline EVP_MD_CTX *call_ledger_sha256_context(void) {
    static __thread EVP_MD_CTX *context;
    if (context == NULL) context = EVP_MD_CTX_new();
    return context;
}

/// SHA-256 of `prefix_length` bytes of `prefix` (0 or more) followed by `length` bytes of `data`; returns 1 on success.
static inline int call_ledger_sha256(
    const void *prefix, size_t prefix_length, const void *data, size_t length, unsigned char out[32]) {
    EVP_MD_CTX *context = call_ledger_sha256_context();
    EVP_MD *algorithm = call_ledger_sha256_algorithm();
    unsigned int written = 0;
    if (context == NULL || algorithm == NULL) return 0;
    if (EVP_DigestInit_ex2(context, algorithm, NULL) != 1) return 0;
    if (prefix_length > 0 && EVP_DigestUpdate(context, prefix, prefix_length) != 1) return 0;
    if (length > 0 && EVP_DigestUpdate(context, data, length) != 1) return 0;
    return EVP_DigestFinal_ex(context, out, &written) == 1 && written == 32;
}
#endif
