/*
 * httpd.h - a loopback HTTP server (Debian's python3) for the unit tests
 * of the HTTP clients (tests/unit/common/net/httpc.c, issuer/tee/kds.c):
 * the temp directory, the start on a free port, the request log, the
 * stop.  Each test brings only its handler.
 */
#ifndef KBS_TEST_HTTPD_H
#define KBS_TEST_HTTPD_H

#include <sys/types.h>

typedef struct {
	char dir[64];        /* a fresh temp directory (kbs_unit_httpd_init) */
	char log[128];       /* dir/requests.log, appended to by self.record() */
	char base[64];       /* "http://127.0.0.1:<port>" once started */
	const char *handler; /* python: class H(Base) with do_GET and so on */
	const char *arg;     /* the handler's ARG */
	pid_t pid;           /* -1 when not running */
} kbs_unit_httpd;

/*
 * Make a temp directory /tmp/kbs-<name>-XXXXXX for s; handler (borrowed)
 * is python that defines class H, a subclass of Base, which has
 * reply(code, body=b'', hdrs=()) and record() (append "METHOD path" to
 * LOG).  The handler also sees ARG (arg, "" when NULL), time, os,
 * threading and lock.  Fatal CUnit assertion on failure.
 */
void kbs_unit_httpd_init(kbs_unit_httpd *s, const char *name,
			 const char *handler, const char *arg);

/* Start the server on 127.0.0.1 on a port of the kernel's choice and
 * wait until it listens (s->base). */
void kbs_unit_httpd_start(kbs_unit_httpd *s);

/* Stop it (SIGTERM, wait); a stopped server is a no-op. */
void kbs_unit_httpd_stop(kbs_unit_httpd *s);

/* Stop it and remove its directory. */
void kbs_unit_httpd_cleanup(kbs_unit_httpd *s);

/* Lines of the request log that contain what ("": every line). */
int kbs_unit_httpd_logged(const kbs_unit_httpd *s, const char *what);

#endif
