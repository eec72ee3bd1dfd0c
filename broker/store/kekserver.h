/*
 * kekserver.h - the key process of a postgres store (keyproc.h): it loads
 * the store's key-encryption keys (kek.c: files, or a KMIP server over
 * TLS, before its sandbox) and answers WRAP / UNWRAP of data keys, so
 * that the broker's HTTP process never holds a KEK byte.
 */
#ifndef KBS_KEKSERVER_H
#define KBS_KEKSERVER_H

#include "err.h"
#include "kekring.h"
#include "keyproc.h"

/* The key process's content (name "kek"); list it in main()'s
 * kbs_keyproc_child_main servers. */
extern const kbs_keyproc_server kbs_kekserver;

/*
 * Check the store's KEK options obj (kbs_kek_config_from_json), start a
 * key process (opts: name, user, group, channels, timeout; its server
 * and config are set here) that loads them, and give the ring of their
 * ids that asks it.  The load's failure (a missing file, a KMIP server
 * down) is this call's, as when the HTTP process loaded them itself.
 */
struct json_t;
kbs_err kbs_kekserver_start(const struct json_t *obj,
			    const kbs_keyproc_cfg *opts, kbs_kekring **out,
			    kbs_errbuf *eb);

#endif
