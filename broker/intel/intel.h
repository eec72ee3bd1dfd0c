/*
 * intel.h - the Intel Trust Authority KBS key API (shared/spec/intel-kbs.md,
 * docs/intel-kbs.md): /kbs/v1/keys, /kbs/v1/key-transfer-policies and
 * POST /kbs/v1/keys/{id}/transfer, with their state (key metadata and
 * policies in files or the shared database, the Intel lock, the ITA
 * client).
 *
 * A module on top of the broker core: it uses the broker only through
 * broker.h's accessors (configuration, trusted issuers, resource store,
 * audit log, shared database) and authz.h (the admin check), and the
 * broker knows nothing of it.  The programs (main.c, kbs_main.c) start it
 * after the broker's own routes and free it before the broker.
 */
#ifndef KBS_INTEL_H
#define KBS_INTEL_H

#include "broker.h"
#include "err.h"
#include "http.h"

typedef struct kbs_intel kbs_intel;

/*
 * When intel.enabled is set: open the Intel state under intel.state_dir
 * (keys/ and key-transfer-policies/ created 0700) or in the shared
 * database (postgres.intel), set up the ITA client, and register the
 * /kbs/v1 routes on srv.  *out is NULL when intel.enabled is off.
 * KBS_ERR_CONFIG for a bad ITA URL or an ita_jwks_issuer that names no
 * trusted issuer.  b is borrowed and must outlive the result; free the
 * result (kbs_intel_free) before b.
 */
kbs_err kbs_intel_start(kbs_broker *b, kbs_http_server *srv, kbs_intel **out,
			kbs_errbuf *eb);

/* NULL is a no-op. */
void kbs_intel_free(kbs_intel *in);

#endif
