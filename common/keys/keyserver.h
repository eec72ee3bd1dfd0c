/*
 * keyserver.h - what a kbs-c key process holds and how it answers
 * (keyproc.h runs the process; this is its content): the token signing
 * key in slot 0 and the session seal keys, loaded from the files the
 * configuration names, in the key process only.  The HTTP process sends
 * it that configuration (paths and options, as JSON) in the setup record;
 * key bytes never cross.
 */
#ifndef KBS_KEYSERVER_H
#define KBS_KEYSERVER_H

#include <stddef.h>

#include "err.h"
#include "keyproc.h"

typedef struct {
	/* Token signing key (slot 0), or NULL: none. */
	const char *signer_key;
	const char *signer_alg;
	/* Its self-signed certificate's subject CN and validity (CERT). */
	const char *cert_cn;
	long long cert_days;
	/* Session seal keys: the first seals, all open; none: no sealing. */
	const char *const *seal_files;
	size_t n_seal;
	/* The process: keyproc.user/group/channels/timeout_ms. */
	const char *name;
	const char *user;
	const char *group;
	int channels;
	long long timeout_ms;
} kbs_keyserver_cfg;

/*
 * The key process's content (name "keys"): every program that starts one
 * lists it in the servers it gives kbs_keyproc_child_main() first in
 * main().
 */
extern const kbs_keyproc_server kbs_keyserver;

/*
 * Start a key process holding what it names
 * (kbs_keyproc_start): cfg is encoded and sent to it, not kept.  *out is
 * the caller's (kbs_keyproc_free).
 */
kbs_err kbs_keyserver_start(const kbs_keyserver_cfg *cfg, kbs_keyproc **out,
			    kbs_errbuf *eb);

#endif
