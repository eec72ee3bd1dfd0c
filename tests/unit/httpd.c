/* httpd.c - the loopback HTTP test server of httpd.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "fsutil.h"
#include "httpd.h"

/* Before the handler: what every handler uses. */
static const char head_py[] =
	"import http.server, os, sys, time, threading\n"
	"PORTFILE, LOG, ARG = sys.argv[1:4]\n"
	"lock = threading.Lock()\n"
	"class Base(http.server.BaseHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"    def record(self):\n"
	"        with lock:\n"
	"            with open(LOG, 'a') as f: f.write(self.command + ' ' + self.path + '\\n')\n"
	"    def reply(self, code, body=b'', hdrs=()):\n"
	"        self.send_response(code)\n"
	"        for k, v in hdrs: self.send_header(k, v)\n"
	"        self.send_header('Content-Length', str(len(body)))\n"
	"        self.end_headers()\n"
	"        try: self.wfile.write(body)\n"
	"        except OSError: pass  # the client gave up (size bound)\n";

/* After it: serve on a free port, told through a file renamed into place
 * so that the test never reads half a number. */
static const char tail_py[] =
	"s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
	"s.daemon_threads = True\n"
	"open(PORTFILE + '.t', 'w').write(str(s.server_address[1]))\n"
	"os.rename(PORTFILE + '.t', PORTFILE)\n"
	"s.serve_forever()\n";

void
kbs_unit_httpd_init(kbs_unit_httpd *s, const char *name, const char *handler,
		    const char *arg)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	s->handler = handler;
	s->arg = arg ? arg : "";
	snprintf(s->dir, sizeof(s->dir), "/tmp/kbs-%s-XXXXXX", name);
	CU_ASSERT_FATAL(mkdtemp(s->dir) != NULL);
	snprintf(s->log, sizeof(s->log), "%s/requests.log", s->dir);
}

void
kbs_unit_httpd_start(kbs_unit_httpd *s)
{
	size_t plen = strlen(head_py) + strlen(s->handler) + strlen(tail_py) + 1;
	char portfile[160], *prog = malloc(plen);
	uint8_t *b = NULL;
	size_t n = 0;
	int i;

	CU_ASSERT_FATAL(prog != NULL);
	snprintf(prog, plen, "%s%s%s", head_py, s->handler, tail_py);
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	unlink(portfile);
	s->pid = fork();
	CU_ASSERT_FATAL(s->pid >= 0);
	if (s->pid == 0) {
		execl("/usr/bin/python3", "python3", "-c", prog, portfile,
		      s->log, s->arg, (char *)NULL);
		_exit(127);
	}
	free(prog);
	for (i = 0; i < 100 && kbs_fs_read(portfile, 64, &b, &n, NULL) != KBS_OK; i++)
		usleep(50000);
	CU_ASSERT_FATAL(b != NULL);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%s", (char *)b);
	free(b);
}

void
kbs_unit_httpd_stop(kbs_unit_httpd *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
	}
}

void
kbs_unit_httpd_cleanup(kbs_unit_httpd *s)
{
	char cmd[128];

	kbs_unit_httpd_stop(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	CU_ASSERT(system(cmd) == 0);
}

int
kbs_unit_httpd_logged(const kbs_unit_httpd *s, const char *what)
{
	uint8_t *b = NULL;
	size_t n = 0;
	char *p, *line;
	int count = 0;

	if (kbs_fs_read(s->log, 1 << 20, &b, &n, NULL) != KBS_OK)
		return 0;
	for (line = (char *)b; (p = strchr(line, '\n')) != NULL; line = p + 1) {
		*p = '\0';
		count += strstr(line, what) != NULL;
	}
	free(b);
	return count;
}
