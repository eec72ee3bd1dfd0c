/*
 * kekring.h - the key-encryption keys a postgres store seals its data
 * keys with, wherever their bytes are: in this process (kbs_kek, loaded by
 * kek.c: keyproc.in_process, --check-config, tests) or in a key process
 * (keyproc.h; kekserver.c loads them there and answers WRAP/UNWRAP), so
 * that store_pg.c does not need to know, and in the second case the HTTP
 * process never holds a KEK byte: only the ids, and each data key while
 * it uses it.
 */
#ifndef KBS_KEKRING_H
#define KBS_KEKRING_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kek.h"

typedef struct kbs_kekring kbs_kekring;

/* The n KEKs in keks (copied; keks[0] current; ids checked unique). */
kbs_err kbs_kekring_local(const kbs_kek *keks, size_t n, kbs_kekring **out,
			  kbs_errbuf *eb);

/*
 * KEKs held by the key process kp (which the ring now owns: freed with
 * it, also on failure), in the slots of cfg (cfg->src[0] current).
 */
struct kbs_keyproc;
kbs_err kbs_kekring_remote(struct kbs_keyproc *kp, const kbs_kek_config *cfg,
			   kbs_kekring **out, kbs_errbuf *eb);

size_t kbs_kekring_count(const kbs_kekring *r);
/* The id of slot (NULL past the end); slot 0 is the current KEK. */
const char *kbs_kekring_id(const kbs_kekring *r, size_t slot);
/* The slot of id (idlen bytes, not NUL-terminated), or -1. */
int kbs_kekring_find(const kbs_kekring *r, const char *id, size_t idlen);

/*
 * Seal dek for path under slot's KEK (kbs_kek_wrap), here or in the key
 * process; KBS_ERR_UNAVAILABLE while that is down.
 */
kbs_err kbs_kekring_wrap(const kbs_kekring *r, size_t slot, const char *path,
			 const uint8_t dek[KBS_KEK_LEN],
			 uint8_t out[KBS_KEK_WRAPPED_LEN], kbs_errbuf *eb);

/* Open w (kbs_kek_unwrap); dek is written only on success. */
kbs_err kbs_kekring_unwrap(const kbs_kekring *r, size_t slot,
			   const char *path, const uint8_t *w, size_t wlen,
			   uint8_t dek[KBS_KEK_LEN], kbs_errbuf *eb);

/* 1 unless the KEKs are in a key process that is down (why says so). */
int kbs_kekring_up(const kbs_kekring *r, kbs_errbuf *eb);

/* Wipe, stop the key process if any, free; NULL is a no-op. */
void kbs_kekring_free(kbs_kekring *r);

#endif
