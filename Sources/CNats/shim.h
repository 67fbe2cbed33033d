// CNats: the NATS C client (libnats, Debian's libnats-dev) for the NATSClient wrapper.
#ifndef CALL_LEDGER_CNATS_SHIM_H
#define CALL_LEDGER_CNATS_SHIM_H

#include <nats/nats.h>

#endif
