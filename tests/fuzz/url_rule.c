/* libFuzzer driver: the one outbound URL rule (httpc.c kbs_httpc_url_check).
 * Whatever passes must be what the rule promises: lower-case https:// (or
 * http:// with the opt-in), a host, printable ASCII, no user information. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an accepted URL must look like; 0 if it breaks the rule. */
static int
conforms(const char *s, int allow_http)
{
	size_t skip, i, auth;

	if (strncmp(s, "https://", 8) == 0)
		skip = 8;
	else if (allow_http && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	auth = strcspn(s + skip, "/?#");
	return auth > 0 && s[skip] != ':' && memchr(s + skip, '@', auth) == NULL &&
	       i <= KBS_HTTPC_URL_MAX;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int allow;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (allow = 0; allow <= 1; allow++)
		if (kbs_httpc_url_check(s, allow, NULL) == KBS_OK && !conforms(s, allow))
			abort();
	/* http:// never passes without the opt-in. */
	if (strncmp(s, "http://", 7) == 0 && kbs_httpc_url_check(s, 0, NULL) == KBS_OK)
		abort();
	free(s);
	return 0;
}
