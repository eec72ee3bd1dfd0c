/*
 * kek.h - key-encryption keys (KEKs) of the database store: which keys,
 * where each one comes from, and loading their bytes.
 *
 * A KEK seals the per-row data keys of store_pg.c.  It comes from one of
 * two sources:
 *   - a file (32 raw bytes or 64 hex digits, mode 0600/0640 or stricter);
 *   - a KMIP server: a Symmetric Key object, algorithm AES, 32 bytes of
 *     Raw key material, named by its Unique Identifier, read with one Get
 *     over mutual TLS at start.
 * Loading is split in two so that it can run in another process (a key
 * process that loads its keys and then seals itself off):
 *   kbs_kek_config_from_json()  parses the store's options (no I/O);
 *   kbs_kek_load_all()          reads every KEK (files, KMIP Get);
 *   kbs_kek_check_all()         --check-config: the files, no KMIP Get.
 * The KEK's bytes never leave the process that loads them except into
 * the caller's buffer; nothing here logs key material.
 */
#ifndef KBS_KEK_H
#define KBS_KEK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kmip.h"

#define KBS_KEK_LEN 32      /* AES-256 */
#define KBS_KEK_ID_MAX 64   /* the id rows name: [A-Za-z0-9._-]{1,64} */
#define KBS_KEK_MAX 8       /* the current KEK and up to 7 retired ones */
/* A data key sealed under a KEK: iv (12) || ct (32) || tag (16). */
#define KBS_KEK_WRAPPED_LEN (12 + KBS_KEK_LEN + 16)
/* The longest path a KEK seals a data key for (store paths are shorter). */
#define KBS_KEK_PATH_MAX 1024

typedef enum {
	KBS_KEK_FILE = 1, /* ref is a file name */
	KBS_KEK_KMIP = 2, /* ref is a KMIP Unique Identifier */
} kbs_kek_kind;

/* Where one KEK comes from.  Strings are borrowed. */
typedef struct kbs_kek_source {
	const char *id;
	kbs_kek_kind kind;
	const char *ref;
} kbs_kek_source;

/*
 * All KEKs of one store: src[0] is current (seals every write), the rest
 * are retired (still open rows naming them).  kmip is the server the
 * KMIP sources live in (has_kmip); its strings are borrowed.
 */
typedef struct kbs_kek_config {
	kbs_kek_source src[KBS_KEK_MAX];
	size_t n;
	kbs_kmip_conn_config kmip;
	int has_kmip;
} kbs_kek_config;

/* One loaded KEK.  Wipe with OPENSSL_cleanse when done. */
typedef struct kbs_kek {
	char id[KBS_KEK_ID_MAX + 1];
	uint8_t key[KBS_KEK_LEN];
} kbs_kek;

/*
 * Parse a postgres store's KEK options (pure, no I/O):
 *   "kek_id": "<id>", and exactly one of
 *   "kek_file": "<file>" or "kek_kmip_uid": "<KMIP Unique Identifier>";
 *   "old_keks": {"<id>": "<file>" | {"file": "<file>"} |
 *                {"kmip_uid": "<uid>"}, ...}           (optional)
 *   "kmip": {KMIP connection options, kbs_kmip_conn_from_json()}
 *           (required when any KEK is in KMIP, refused otherwise).
 * Other members of obj are not looked at (the store checks them).
 * Strings are borrowed from obj, which must outlive *cfg.  Ids are
 * checked ([A-Za-z0-9._-]{1,64}, no id twice).  KBS_ERR_CONFIG naming the
 * offending option; *cfg written only on success.
 */
struct json_t;
kbs_err kbs_kek_config_from_json(const struct json_t *obj, kbs_kek_config *cfg,
				 kbs_errbuf *eb);

/*
 * Load every KEK of cfg into out[0..cfg->n-1] (out[0] the current one).
 * File sources are checked for mode (no group write, nothing for others)
 * and length; a KMIP source must be a Symmetric Key, AES, 32 bytes, in
 * Raw form.  Every failure, including a KMIP server that is down or does
 * not know the identifier, is KBS_ERR_CONFIG (the daemon does not start
 * without its keys) with the KEK id and the cause.  On failure out is
 * wiped.
 */
kbs_err kbs_kek_load_all(const kbs_kek_config *cfg, kbs_kek *out,
			 kbs_errbuf *eb);

/*
 * What --check-config can know of cfg's KEKs without contacting anyone:
 * each file source is read and checked as kbs_kek_load_all() would
 * (exists, readable, mode, 32 bytes or 64 hex digits) and its bytes are
 * wiped at once; with KMIP sources the connection options are checked
 * and the CA, client certificate and key files loaded, but the server is
 * not contacted (whether it holds the keys is known only at start).
 * KBS_ERR_CONFIG naming the option (kek_file, old_keks.<id>, kmip).
 */
kbs_err kbs_kek_check_all(const kbs_kek_config *cfg, kbs_errbuf *eb);

/*
 * Seal the data key dek for a resource path (pathlen bytes, no NUL, at
 * most KBS_KEK_PATH_MAX) under k: AES-256-GCM with "kbs-c dek v1" NUL
 * path NUL k->id as associated data, a random IV, out = iv || ct || tag.
 * The associated data is built here, not by the caller, so a KEK seals
 * and opens nothing but data keys bound to a path and to itself (a key
 * process answering with it is no general AES-GCM oracle).
 * KBS_ERR_INVALID for a bad path.
 */
kbs_err kbs_kek_wrap(const kbs_kek *k, const char *path, size_t pathlen,
		     const uint8_t dek[KBS_KEK_LEN],
		     uint8_t out[KBS_KEK_WRAPPED_LEN], kbs_errbuf *eb);

/*
 * Open w (wlen bytes) for path under k into dek (written only on
 * success).  KBS_ERR_VERIFY when it does not open (another length,
 * altered, another path or KEK), KBS_ERR_INVALID for a bad path.
 */
kbs_err kbs_kek_unwrap(const kbs_kek *k, const char *path, size_t pathlen,
		       const uint8_t *w, size_t wlen, uint8_t dek[KBS_KEK_LEN],
		       kbs_errbuf *eb);

#endif
