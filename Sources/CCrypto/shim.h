// CCrypto: the OpenSSL 3 libcrypto API used by LedgerCore: SHA-256, AES-256-GCM, Ed25519, random bytes.
#ifndef CALL_LEDGER_CCRYPTO_SHIM_H
#define CALL_LEDGER_CCRYPTO_SHIM_H
// The ledger computes several SHA-256 digests per event, most of them over 65 to 700 bytes. Through EVP each
// costs a context initialisation, parameter lookups and a cleanse, several times the hashing itself, so the
// digest helpers below use OpenSSL's direct SHA-256 functions (same implementation, SHA-NI when the CPU has
// it), which OpenSSL 3 marks deprecated in favour of EVP but still ships.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>

/// SHA-256 of `prefix_length` bytes of `prefix` (0 or more) followed by `length` bytes of `data`; returns 1 on success.
static inline int call_ledger_sha256(
    const void *prefix, size_t prefix_length, const void *data, size_t length, unsigned char out[32]) {
    SHA256_CTX context;
    if (SHA256_Init(&context) != 1) return 0;
    if (prefix_length > 0 && SHA256_Update(&context, prefix, prefix_length) != 1) return 0;
    if (length > 0 && SHA256_Update(&context, data, length) != 1) return 0;
    return SHA256_Final(out, &context);
}

/// The per-thread context of a digest fed in several pieces (`begin`, `update`, `finish`).
static inline SHA256_CTX *call_ledger_sha256_stream_context(void) {
    static __thread SHA256_CTX context;
    return &context;
}

/// Starts a streamed SHA-256 on this thread; returns 1 on success.
static inline int call_ledger_sha256_begin(void) {
    return SHA256_Init(call_ledger_sha256_stream_context());
}

/// Feeds bytes to the streamed SHA-256; returns 1 on success.
static inline int call_ledger_sha256_update(const void *data, size_t length) {
    return length == 0 || SHA256_Update(call_ledger_sha256_stream_context(), data, length) == 1;
}

/// Finishes the streamed SHA-256; returns 1 on success.
static inline int call_ledger_sha256_finish(unsigned char out[32]) {
    return SHA256_Final(out, call_ledger_sha256_stream_context());
}
#endif
