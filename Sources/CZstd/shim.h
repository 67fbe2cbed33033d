// CZstd: the libzstd API used by LedgerStore's frame writer and reader.
#ifndef CALL_LEDGER_CZSTD_SHIM_H
#define CALL_LEDGER_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif
