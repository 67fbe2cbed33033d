// CCrypto: the OpenSSL 3 libcrypto API used by LedgerCore: SHA-256, AES-256-GCM, Ed25519, random bytes.
#ifndef CALL_LEDGER_CCRYPTO_SHIM_H
#define CALL_LEDGER_CCRYPTO_SHIM_H
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#endif
