/*
 * cli.c - what every command file of kbs-client shares (cli.h): exit
 * codes, usage errors, the URL rule, input from a file or stdin, output
 * to stdout or a file, and the http handle and admin token of an admin
 * command.  Apart
 * from main.c and commands.c so that the command files (commands.c,
 * policy.c, intel.c) depend on it and main.c on them, never round a loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "fsutil.h"
#include "httpc.h"
#include "mem.h"

int
client_exit_code(kbs_err rc)
{
	switch (rc) {
	case KBS_OK:
		return CLIENT_EXIT_OK;
	case KBS_ERR_DENIED:
		return CLIENT_EXIT_REFUSED;
	case KBS_ERR_NETWORK:
		return CLIENT_EXIT_NETWORK;
	case KBS_ERR_CONFIG: /* a URL the one rule refuses (httpc.h) */
		return CLIENT_EXIT_USAGE;
	default:
		return CLIENT_EXIT_LOCAL;
	}
}

int
client_check_url(const char *opt, const char *url, const client_http_opts *h)
{
	kbs_errbuf eb = {""};

	if (url == NULL || kbs_httpc_url_check(url, h->allow_insecure_http, &eb) == KBS_OK)
		return 0;
	client_usage_error("%s: %s%s", opt, eb.msg,
			   strncmp(url, "http://", 7) == 0 ? " (--insecure-http allows "
			   "it, for tests)" : "");
	return -1;
}

int
client_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kbs-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return CLIENT_EXIT_USAGE;
}

/* Read stdin up to max bytes (KBS_ERR_TOO_LARGE beyond). */
static kbs_err
read_stdin(size_t max, uint8_t **out, size_t *outlen, kbs_errbuf *eb)
{
	uint8_t *buf = malloc(max + 1);
	size_t len = 0;
	ssize_t n = 1;

	if (buf == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	while (len <= max && n != 0) {
		n = read(STDIN_FILENO, buf + len, max + 1 - len);
		if (n < 0 && errno != EINTR) {
			kbs_freezero(buf, max + 1);
			return kbs_errf(eb, KBS_ERR_IO, "stdin: %s", strerror(errno));
		}
		len += n > 0 ? (size_t)n : 0;
	}
	if (len > max) {
		kbs_freezero(buf, max + 1);
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "stdin: more than %zu "
				"bytes", max);
	}
	buf[len] = 0;
	*out = buf;
	*outlen = len;
	return KBS_OK;
}

/* A file, or stdin for "-".  Release with kbs_freezero(*out, *outlen):
 * bytes past *outlen + 1 were never written. */
kbs_err
client_cli_read_input(const char *path, size_t max, uint8_t **out, size_t *outlen,
	   kbs_errbuf *eb)
{
	if (strcmp(path, "-") == 0)
		return read_stdin(max, out, outlen, eb);
	return kbs_fs_read(path, max, out, outlen, eb);
}

/* stdout when path is NULL or "-", else an atomic 0600 file. */
kbs_err
client_cli_write_output(const char *path, const uint8_t *data, size_t len, kbs_errbuf *eb)
{
	kbs_err rc;

	if (path == NULL || strcmp(path, "-") == 0) {
		if ((len > 0 && fwrite(data, 1, len, stdout) != len) ||
		    fflush(stdout) != 0)
			return kbs_errf(eb, KBS_ERR_IO, "stdout: %s", strerror(errno));
		return KBS_OK;
	}
	rc = kbs_fs_write_atomic(path, data, len, 0600, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "cannot write %s", path);
	return rc;
}

/* The http handle and admin token every admin command starts with.
 * Without --admin-key no token is sent (admin.insecure_allow_all). */
kbs_err
client_cli_admin_setup(const client_cli *o, client_http **h, char **token, kbs_errbuf *eb)
{
	EVP_PKEY *priv = NULL;
	kbs_err rc;

	*token = NULL;
	if (o->admin_key != NULL) {
		if ((rc = client_key_read_pem(o->admin_key, &priv, eb)) != KBS_OK)
			return rc;
		rc = client_admin_token(priv, o->role, kbs_clock_now(), token, eb);
		EVP_PKEY_free(priv);
		if (rc != KBS_OK)
			return rc;
	}
	rc = client_http_new(&o->http, h, eb);
	if (rc != KBS_OK) {
		kbs_strfreezero(*token);
		*token = NULL;
	}
	return rc;
}
