/* mem.c - wiping frees. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mem.h"

void
kbs_freezero(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

void
kbs_buf_free(kbs_buf *b)
{
	if (b == NULL)
		return;
	kbs_freezero(b->data, b->len);
	b->data = NULL;
	b->len = 0;
}

void
kbs_strfreezero(char *s)
{
	if (s != NULL)
		kbs_freezero(s, strlen(s));
}

void *
kbs_malloc(size_t n)
{
	return malloc(n == 0 ? 1 : n);
}

char *
kbs_strndup(const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
