/*
 * mem.h - owning byte buffers that wipe themselves.
 *
 * Anything that may hold a key, a secret or plaintext lives in a kbs_buf
 * or is released with kbs_freezero(), so that no path forgets the wipe.
 */
#ifndef KBS_MEM_H
#define KBS_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *data;
	size_t len;
} kbs_buf;

/* OPENSSL_cleanse(p, n) then free(p).  NULL is a no-op. */
void kbs_freezero(void *p, size_t n);

/* Wipe and free b->data, then zero *b.  NULL or empty is a no-op. */
void kbs_buf_free(kbs_buf *b);

/* Wipe and free a NUL-terminated string.  NULL is a no-op. */
void kbs_strfreezero(char *s);

/* malloc(n) that returns NULL for n == 0 requests too (as 1 byte). */
void *kbs_malloc(size_t n);

/* strndup-like copy of len bytes plus a NUL; NULL on failure. */
char *kbs_strndup(const char *s, size_t len);

#endif
