/*
 * store_kmip.c - the KMIP resource store against a real KMIP server.
 *
 * The server is Debian's PyKMIP, started here with the compose file's
 * deploy/compose/kmip/kmip-server.py --dir (certificates generated at
 * test time, 127.0.0.1, a free port, TLS 1.2 with client certificates).
 * It is a hard dependency of this test (deploy/install-deps.sh --test
 * installs python3-pykmip): a missing server fails the test rather than
 * skipping it silently.
 *
 * Covered: create/read/replace/delete of resources, binary and empty
 * values, server-side key generation, the router sending one repository
 * to KMIP and the rest to the filesystem, concurrent readers sharing the
 * connection pool, a server that is killed mid-run (clean
 * KBS_ERR_NETWORK, then recovery through reconnection once it is back), a
 * server that freezes (timeout), a silent TCP peer, and TLS peers that
 * do not match the configured CA.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "kmip.h"
#include "mem.h"
#include "store.h"
#include "tmpfile.h"
#include "unit.h"

#define PYTHON "/usr/bin/python3"
#define START_WAIT_MS 60000

static struct {
	pid_t pid;
	const char *dir; /* under the program's temp directory (tmpfile.h) */
	char other[80]; /* a second, unrelated CA and client */
	unsigned port;
	kbs_store *store;
} srv;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned
free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static const char *
fixture(char *buf, size_t len)
{
	return kbs_unit_src("deploy/compose/kmip/kmip-server.py", buf, len);
}

/* Run the fixture; port 0 means --gen-only (wait for it). */
static pid_t
spawn(const char *dir, unsigned port)
{
	char script[512], portstr[16], log[128];
	pid_t pid;
	int fd;

	fixture(script, sizeof(script));
	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(log, sizeof(log), "%s.out", dir);
	if ((pid = fork()) != 0)
		return pid;
	setpgid(0, 0); /* its own group: the kill takes PyKMIP's helpers */
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (port == 0)
		execl(PYTHON, PYTHON, script, "--dir", dir, "--gen-only",
		      (char *)NULL);
	else
		execl(PYTHON, PYTHON, script, "--dir", dir, "--port", portstr,
		      (char *)NULL);
	_exit(127);
}

static int
srv_start(void)
{
	char ready[128];
	struct stat st;
	int64_t end = now_ms() + START_WAIT_MS;
	int status;

	snprintf(ready, sizeof(ready), "%s/ready", srv.dir);
	unlink(ready);
	if ((srv.pid = spawn(srv.dir, srv.port)) < 0)
		return -1;
	while (now_ms() < end) {
		if (stat(ready, &st) == 0)
			return 0;
		if (waitpid(srv.pid, &status, WNOHANG) == srv.pid) {
			fprintf(stderr, "KMIP server exited; see %s.out\n",
				srv.dir);
			srv.pid = 0;
			return -1;
		}
		usleep(50000);
	}
	return -1;
}

static void
srv_kill(void)
{
	if (srv.pid > 0) {
		kill(-srv.pid, SIGKILL);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
}

/* Stop the server; its directory goes with the program's temp directory,
 * whose removal was registered before this (atexit runs in reverse). */
static void
cleanup(void)
{
	/* No OpenSSL here: at exit, its own cleanup may already have run. */
	srv_kill();
}

static void
srv_path(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
}

/* A KMIP store on srv with the given CA/client dir and timeout. */
static kbs_err
store_open(const char *ca_dir, const char *cli_dir, unsigned port,
	   int timeout_ms, kbs_store **out, kbs_errbuf *eb)
{
	char ca[128], cert[128], key[128];
	kbs_kmip_conn_config cfg;

	srv_path(ca, sizeof(ca), ca_dir, "ca.pem");
	srv_path(cert, sizeof(cert), cli_dir, "client.pem");
	srv_path(key, sizeof(key), cli_dir, "client.key");
	memset(&cfg, 0, sizeof(cfg));
	cfg.host = "127.0.0.1";
	cfg.port = port;
	cfg.ca_file = ca;
	cfg.cert_file = cert;
	cfg.key_file = key;
	cfg.timeout_ms = timeout_ms;
	cfg.pool_size = 2;
	return kbs_store_kmip_new(&cfg, out, eb);
}

/* Start the server once for the whole program. */
static void
need_server(void)
{
	kbs_errbuf eb = {{0}};
	int status = 0;
	pid_t p;

	if (srv.store != NULL)
		return;
	srv.dir = kbs_unit_mkdtemp();
	snprintf(srv.other, sizeof(srv.other), "%s/other", srv.dir);
	srv.port = free_port();
	atexit(cleanup);
	CU_ASSERT_EQUAL_FATAL(access(PYTHON, X_OK), 0);
	CU_ASSERT_FATAL(srv.port != 0 && srv_start() == 0);
	p = spawn(srv.other, 0);
	CU_ASSERT_FATAL(p > 0 && waitpid(p, &status, 0) == p &&
			WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL_FATAL(store_open(srv.dir, srv.dir, srv.port, 5000,
					 &srv.store, &eb), KBS_OK);
}

static void
expect_get(kbs_store *s, const char *path, const void *want, size_t wlen)
{
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL_FATAL(kbs_store_get(s, path, &out, &len, &eb), KBS_OK);
	CU_ASSERT(len == wlen && (wlen == 0 || memcmp(out, want, wlen) == 0));
	kbs_freezero(out, len);
}

static void
test_crud(void)
{
	static const uint8_t bin[] = {0, 1, 2, 0, 0xff, 0x80, 0};
	kbs_errbuf eb = {{0}};
	uint8_t *big, *out = NULL;
	size_t len = 0, i;

	need_server();
	CU_ASSERT_EQUAL(kbs_store_put(srv.store, "kmip/crud/a",
				      (const uint8_t *)"first", 5, &eb), KBS_OK);
	expect_get(srv.store, "kmip/crud/a", "first", 5);
	/* Replace: the old object is destroyed, the new one read back. */
	CU_ASSERT_EQUAL(kbs_store_put(srv.store, "kmip/crud/a", bin,
				      sizeof(bin), &eb), KBS_OK);
	expect_get(srv.store, "kmip/crud/a", bin, sizeof(bin));
	CU_ASSERT_EQUAL(kbs_store_put(srv.store, "kmip/crud/empty",
				      (const uint8_t *)"", 0, &eb), KBS_OK);
	expect_get(srv.store, "kmip/crud/empty", "", 0);
	big = malloc(100000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	for (i = 0; i < 100000; i++)
		big[i] = (uint8_t)(i * 7);
	CU_ASSERT_EQUAL(kbs_store_put(srv.store, "kmip/crud/big", big, 100000,
				      &eb), KBS_OK);
	expect_get(srv.store, "kmip/crud/big", big, 100000);
	free(big);
	CU_ASSERT_EQUAL(kbs_store_del(srv.store, "kmip/crud/a", &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "kmip/crud/a", &out, &len,
				      &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_STRING_EQUAL(eb.msg, "resource kmip/crud/a not found");
	CU_ASSERT_EQUAL(kbs_store_del(srv.store, "kmip/crud/a", &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "kmip/crud/never", &out, &len,
				      &eb), KBS_ERR_NOT_FOUND);
	/* The dispatcher's path check holds for this backend too. */
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "kmip/../x", &out, &len, &eb),
			KBS_ERR_INVALID);
}

static void
test_generate(void)
{
	kbs_errbuf eb = {{0}};
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_store *fs = NULL;
	char dir[128];

	need_server();
	kbs_store_del(srv.store, "kmip/gen/k", NULL);
	CU_ASSERT_EQUAL(kbs_store_kmip_generate(srv.store, "kmip/gen/k", &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "kmip/gen/k", &out, &len,
				      &eb), KBS_OK);
	CU_ASSERT_EQUAL(len, 32);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(kbs_store_kmip_generate(srv.store, "kmip/gen/k", &eb),
			KBS_ERR_EXISTS);
	CU_ASSERT_EQUAL(kbs_store_kmip_generate(srv.store, "bad//path", &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_store_del(srv.store, "kmip/gen/k", &eb), KBS_OK);
	/* Only a KMIP store can generate. */
	srv_path(dir, sizeof(dir), srv.dir, "fsgen");
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(dir, &fs, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_kmip_generate(fs, "a/b/c", &eb),
			KBS_ERR_UNSUPPORTED);
	kbs_store_free(fs);
}

/* A router config naming this server, as the broker would pass it. */
static json_t *
stores_json(void)
{
	char ca[128], cert[128], key[128];

	srv_path(ca, sizeof(ca), srv.dir, "ca.pem");
	srv_path(cert, sizeof(cert), srv.dir, "client.pem");
	srv_path(key, sizeof(key), srv.dir, "client.key");
	return json_pack("{s:{s:s,s:s,s:i,s:s,s:s,s:s,s:i}}", "kmip", "type",
			 "kmip", "host", "127.0.0.1", "port", (int)srv.port,
			 "ca_file", ca, "cert_file", cert, "key_file", key,
			 "timeout_ms", 5000);
}

static void
test_router(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *fs = NULL, *r = NULL;
	json_t *stores, *routes;
	uint8_t *out = NULL;
	size_t len = 0;
	char dir[128];

	need_server();
	srv_path(dir, sizeof(dir), srv.dir, "fsroot");
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(dir, &fs, &eb), KBS_OK);
	stores = stores_json();
	routes = json_pack("[{s:s,s:s}]", "pattern", "kmip/**", "store",
			   "kmip");
	CU_ASSERT_EQUAL_FATAL(kbs_store_router_from_json(fs, stores, routes,
							 &r, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_store_router_pick(r, "kmip/x/y"), "kmip");
	CU_ASSERT_STRING_EQUAL(kbs_store_router_pick(r, "other/x/y"), "fs");
	CU_ASSERT_EQUAL(kbs_store_put(r, "kmip/routed/one",
				      (const uint8_t *)"in-kmip", 7, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_put(r, "plain/routed/one",
				      (const uint8_t *)"in-fs", 5, &eb), KBS_OK);
	expect_get(r, "kmip/routed/one", "in-kmip", 7);
	expect_get(r, "plain/routed/one", "in-fs", 5);
	/* Each really is where the route said. */
	expect_get(srv.store, "kmip/routed/one", "in-kmip", 7);
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "plain/routed/one", &out,
				      &len, &eb), KBS_ERR_NOT_FOUND);
	srv_path(dir, sizeof(dir), srv.dir, "fsroot/plain/routed/one");
	CU_ASSERT_EQUAL(access(dir, F_OK), 0);
	srv_path(dir, sizeof(dir), srv.dir, "fsroot/kmip");
	CU_ASSERT_NOT_EQUAL(access(dir, F_OK), 0);
	CU_ASSERT_EQUAL(kbs_store_del(r, "kmip/routed/one", &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_del(r, "kmip/routed/one", &eb),
			KBS_ERR_NOT_FOUND);
	kbs_store_free(r);
	json_decref(stores);
	json_decref(routes);
}

static void
test_config_errors(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *s = NULL, *fs = NULL;
	json_t *stores, *routes, *kmip;
	char dir[128];

	need_server();
	stores = stores_json();
	kmip = json_object_get(stores, "kmip");
	json_object_set_new(kmip, "pool", json_integer(3));
	CU_ASSERT_EQUAL(kbs_store_kmip_from_json(kmip, NULL, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "unknown option pool"));
	json_object_del(kmip, "pool");
	json_object_set_new(kmip, "key_file", json_string("/nonexistent.key"));
	CU_ASSERT_EQUAL(kbs_store_kmip_from_json(kmip, NULL, &s, &eb),
			KBS_ERR_CONFIG);
	json_object_del(kmip, "key_file");
	CU_ASSERT_EQUAL(kbs_store_kmip_from_json(kmip, NULL, &s, &eb),
			KBS_ERR_CONFIG);
	json_object_set_new(kmip, "port", json_integer(70000));
	CU_ASSERT_EQUAL(kbs_store_kmip_from_json(kmip, NULL, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(s);
	json_decref(stores);
	/* Routes that name no store or have bad patterns. */
	stores = stores_json();
	srv_path(dir, sizeof(dir), srv.dir, "fsroot2");
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(dir, &fs, &eb), KBS_OK);
	routes = json_pack("[{s:s,s:s}]", "pattern", "kmip/**", "store",
			   "hsm");
	CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, stores, routes, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "unknown store"));
	CU_ASSERT_PTR_NULL(s);
	json_decref(routes);
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(dir, &fs, &eb), KBS_OK);
	routes = json_pack("[{s:s,s:s}]", "pattern", "kmip/../x", "store",
			   "kmip");
	CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, stores, routes, &s, &eb),
			KBS_ERR_CONFIG);
	json_decref(routes);
	json_decref(stores);
}

typedef struct {
	kbs_store *s;
	int ok;
} reader_arg;

static void *
reader(void *p)
{
	reader_arg *a = p;
	uint8_t *out;
	size_t len;
	int i;

	for (i = 0; i < 10; i++) {
		out = NULL;
		if (kbs_store_get(a->s, "kmip/conc/r", &out, &len, NULL) ==
			    KBS_OK &&
		    len == 6 && memcmp(out, "shared", 6) == 0)
			a->ok++;
		kbs_freezero(out, len);
	}
	return NULL;
}

static void
test_concurrent(void)
{
	pthread_t t[4];
	reader_arg a[4];
	int i;

	need_server();
	CU_ASSERT_EQUAL_FATAL(kbs_store_put(srv.store, "kmip/conc/r",
					    (const uint8_t *)"shared", 6, NULL),
			      KBS_OK);
	for (i = 0; i < 4; i++) {
		a[i].s = srv.store;
		a[i].ok = 0;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, reader, &a[i]),
				      0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(a[i].ok, 10);
	}
}

static void
test_server_killed(void)
{
	kbs_errbuf eb = {{0}};
	uint8_t *out = NULL;
	size_t len = 0;
	int64_t t0;

	need_server();
	CU_ASSERT_EQUAL_FATAL(kbs_store_put(srv.store, "kmip/vanish/a",
					    (const uint8_t *)"survives", 8,
					    &eb), KBS_OK);
	expect_get(srv.store, "kmip/vanish/a", "survives", 8);
	srv_kill(); /* the pooled connection is now dead */
	t0 = now_ms();
	CU_ASSERT_EQUAL(kbs_store_get(srv.store, "kmip/vanish/a", &out, &len,
				      &eb), KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "127.0.0.1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "kmip store"));
	CU_ASSERT_PTR_NULL(strstr(eb.msg, "survives"));
	CU_ASSERT_EQUAL(kbs_store_put(srv.store, "kmip/vanish/b",
				      (const uint8_t *)"x", 1, &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_EQUAL(kbs_store_del(srv.store, "kmip/vanish/a", &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT(now_ms() - t0 < 5000);
	/* Back on the same port with the same database: reconnect. */
	CU_ASSERT_EQUAL_FATAL(srv_start(), 0);
	expect_get(srv.store, "kmip/vanish/a", "survives", 8);
	CU_ASSERT_EQUAL(kbs_store_del(srv.store, "kmip/vanish/a", &eb), KBS_OK);
}

static void
test_server_frozen(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *s = NULL;
	uint8_t *out = NULL;
	size_t len = 0;
	int64_t t0, took;

	need_server();
	CU_ASSERT_EQUAL_FATAL(store_open(srv.dir, srv.dir, srv.port, 1000, &s,
					 &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_put(s, "kmip/frozen/a",
				      (const uint8_t *)"ice", 3, &eb), KBS_OK);
	kill(-srv.pid, SIGSTOP);
	t0 = now_ms();
	CU_ASSERT_EQUAL(kbs_store_get(s, "kmip/frozen/a", &out, &len, &eb),
			KBS_ERR_NETWORK);
	took = now_ms() - t0;
	kill(-srv.pid, SIGCONT);
	CU_ASSERT(took >= 900 && took < 4000);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "timed out"));
	/* Thawed: the next request works on a new connection. */
	expect_get(s, "kmip/frozen/a", "ice", 3);
	CU_ASSERT_EQUAL(kbs_store_del(s, "kmip/frozen/a", &eb), KBS_OK);
	kbs_store_free(s);
}

static void
test_silent_peer(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	kbs_errbuf eb = {{0}};
	kbs_store *s = NULL;
	uint8_t *out = NULL;
	size_t len = 0;
	int64_t t0, took;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	need_server();
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&a,
					sizeof(a)) == 0 &&
			listen(fd, 4) == 0 &&
			getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	/* Connections complete in the backlog, nobody ever speaks TLS. */
	CU_ASSERT_EQUAL_FATAL(store_open(srv.dir, srv.dir, ntohs(a.sin_port),
					 500, &s, &eb), KBS_OK);
	t0 = now_ms();
	CU_ASSERT_EQUAL(kbs_store_get(s, "kmip/silent/a", &out, &len, &eb),
			KBS_ERR_NETWORK);
	took = now_ms() - t0;
	CU_ASSERT(took >= 400 && took < 3000);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "TLS handshake"));
	kbs_store_free(s);
	close(fd);
}

static void
test_tls_mismatch(void)
{
	kbs_errbuf eb = {{0}};
	kbs_store *s = NULL;
	uint8_t *out = NULL;
	size_t len = 0;

	need_server();
	/* We do not trust the server's CA. */
	CU_ASSERT_EQUAL_FATAL(store_open(srv.other, srv.dir, srv.port, 3000,
					 &s, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(s, "kmip/tls/a", &out, &len, &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "certificate not accepted"));
	kbs_store_free(s);
	/* The server does not trust our client certificate. */
	CU_ASSERT_EQUAL_FATAL(store_open(srv.dir, srv.other, srv.port, 3000,
					 &s, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(s, "kmip/tls/a", &out, &len, &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(out);
	kbs_store_free(s);
}

/* Last: close the pool while the server is still up, then stop it. */
static void
test_teardown(void)
{
	need_server();
	kbs_store_free(srv.store);
	srv.store = NULL;
	CU_ASSERT(srv.pid > 0);
	srv_kill();
	CU_ASSERT_EQUAL(srv.pid, 0);
}

static const kbs_unit_test tests[] = {
	{"crud", test_crud},
	{"generate", test_generate},
	{"router", test_router},
	{"config_errors", test_config_errors},
	{"concurrent", test_concurrent},
	{"server_killed", test_server_killed},
	{"server_frozen", test_server_frozen},
	{"silent_peer", test_silent_peer},
	{"tls_mismatch", test_tls_mismatch},
	{"teardown", test_teardown},
	{NULL, NULL},
};

KBS_UNIT_MAIN("store_kmip", tests)
