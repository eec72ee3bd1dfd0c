/*
 * Tests for common/keys/keyproc.c: a real key process (fork + exec of this
 * test program, whose main() hands over to kbs_keyproc_child_main), its
 * sandbox as /proc shows it, answers over the channel pool, and its
 * restart after kill -9, a hang, a request for no key it holds and a
 * forbidden call.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "keyproc.h"
#include "mem.h"
#include "unit.h"

/*
 * In the key process: configuration "fail" makes the load fail;
 * "hang:PATH" makes it hang while the file PATH exists (a key process
 * that never says hello).
 */
static kbs_err
t_load(const uint8_t *config, size_t len, void **state, kbs_errbuf *eb)
{
	char path[256];

	if (len == 4 && memcmp(config, "fail", 4) == 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "test key file is bad");
	if (len > 5 && len - 5 < sizeof(path) && memcmp(config, "hang:", 5) == 0) {
		memcpy(path, config + 5, len - 5);
		path[len - 5] = '\0';
		while (access(path, F_OK) == 0)
			sleep(1);
	}
	*state = NULL;
	return KBS_OK;
}

/*
 * PING: "ok"; SIGN slot 0: the data reversed; SIGN slot 9: no such key
 * (exit); SEAL aad "open": a forbidden open(); SEAL aad "spin": a hang;
 * OPEN: KBS_ERR_VERIFY.
 */
static int
t_handle(void *state, const kbs_keyproc_req *req, uint8_t *out, size_t cap,
	 size_t *outlen)
{
	size_t i;

	switch (req->op) {
	case KBS_KEYPROC_PING:
		memcpy(out, "ok", 2);
		*outlen = 2;
		return KBS_OK;
	case KBS_KEYPROC_SIGN:
		if (req->slot != 0 || req->alen > cap)
			return KBS_KEYPROC_EXIT;
		for (i = 0; i < req->alen; i++)
			out[i] = req->a[req->alen - 1 - i];
		*outlen = req->alen;
		return KBS_OK;
	case KBS_KEYPROC_SEAL:
		if (req->alen == 4 && memcmp(req->a, "open", 4) == 0)
			return open("/etc/hostname", O_RDONLY) >= 0 ? KBS_OK
								   : KBS_ERR_IO;
		if (req->alen == 4 && memcmp(req->a, "spin", 4) == 0)
			for (;;)
				;
		return KBS_ERR_INVALID;
	default:
		return KBS_ERR_VERIFY;
	}
}

static kbs_keyproc *
start_with(int channels, long long timeout_ms, const char *config)
{
	kbs_keyproc_cfg c;
	kbs_keyproc *kp = NULL;
	kbs_errbuf eb = {""};

	memset(&c, 0, sizeof(c));
	c.name = "unit";
	c.server = "test";
	c.channels = channels;
	c.timeout_ms = timeout_ms;
	c.config = (const uint8_t *)config;
	c.config_len = strlen(config);
	CU_ASSERT_EQUAL(kbs_keyproc_start(&c, &kp, &eb), KBS_OK);
	if (kp == NULL)
		fprintf(stderr, "keyproc start: %s\n", eb.msg);
	return kp;
}

static kbs_keyproc *
start(int channels, long long timeout_ms)
{
	return start_with(channels, timeout_ms, "keys");
}

static kbs_err
call(kbs_keyproc *kp, kbs_keyproc_op op, uint8_t slot, const char *a,
     char *out, size_t cap)
{
	kbs_keyproc_req r;
	uint8_t *p = NULL;
	size_t n = 0;
	kbs_err rc;

	memset(&r, 0, sizeof(r));
	r.op = op;
	r.slot = slot;
	r.a = (const uint8_t *)a;
	r.alen = a ? strlen(a) : 0;
	rc = kbs_keyproc_call(kp, &r, &p, &n, NULL);
	if (rc == KBS_OK) {
		CU_ASSERT_FATAL(n < cap);
		memcpy(out, p, n);
		out[n] = '\0';
		kbs_freezero(p, n);
	}
	return rc;
}

/* Wait (up to 30 s) for a key process other than old to answer. */
static pid_t
wait_restarted(kbs_keyproc *kp, pid_t old)
{
	char buf[8];
	pid_t pid = 0;
	int i;

	for (i = 0; i < 300; i++) {
		pid = kbs_keyproc_pid(kp);
		if (pid != 0 && pid != old &&
		    call(kp, KBS_KEYPROC_PING, 0, NULL, buf, sizeof(buf)) == KBS_OK)
			return pid;
		usleep(100000);
	}
	return 0;
}

/* The value of "Name:" in /proc/pid/status, as a number; -1 if absent. */
static long
status_field(pid_t pid, const char *name)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, strlen(name)) == 0 &&
		    line[strlen(name)] == ':')
			v = strtol(line + strlen(name) + 1, NULL, 10);
	fclose(f);
	return v;
}

static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void
test_answers_and_sandbox(void)
{
	kbs_keyproc *kp = start(3, 5000);
	char out[64];
	struct stat st;
	char path[64];
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	CU_ASSERT(kbs_keyproc_up(kp));
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_PING, 0, NULL, out, sizeof(out)), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out, "ok");
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_SIGN, 0, "abc", out, sizeof(out)), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out, "cba");
	/* A status is passed through, and the process stays. */
	pid = kbs_keyproc_pid(kp);
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_OPEN, 0, "x", out, sizeof(out)),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_keyproc_pid(kp), pid);
	/* What /proc says of it: seccomp filter mode, no_new_privs, stdio
	 * plus its three channels only. */
	CU_ASSERT_EQUAL(status_field(pid, "Seccomp"), 2);
	CU_ASSERT_EQUAL(status_field(pid, "NoNewPrivs"), 1);
	CU_ASSERT_EQUAL(count_fds(pid), 3 + 3);
	if (geteuid() == 0) {
		/* Its own uid; /proc/pid stays root's: not dumpable. */
		CU_ASSERT_NOT_EQUAL(status_field(pid, "Uid"), 0);
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
		CU_ASSERT(stat(path, &st) == 0 && st.st_uid == 0);
	}
	kbs_keyproc_free(kp);
	/* Gone with its owner. */
	CU_ASSERT(kill(pid, 0) != 0);
}

static void
test_restart_after_kill(void)
{
	kbs_keyproc *kp = start(2, 5000);
	char out[16];
	pid_t pid, pid2;
	kbs_err rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	pid = kbs_keyproc_pid(kp);
	CU_ASSERT(kill(pid, SIGKILL) == 0);
	/* During the gap: unavailable, or answered by the new one. */
	rc = call(kp, KBS_KEYPROC_PING, 0, NULL, out, sizeof(out));
	CU_ASSERT(rc == KBS_OK || rc == KBS_ERR_UNAVAILABLE);
	pid2 = wait_restarted(kp, pid);
	CU_ASSERT(pid2 != 0 && pid2 != pid);
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_SIGN, 0, "xy", out, sizeof(out)), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out, "yx");
	kbs_keyproc_free(kp);
}

static void
test_exit_on_unknown_slot_and_forbidden_call(void)
{
	kbs_keyproc *kp = start(2, 5000);
	char out[16];
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	/* A request for no key it holds: it exits; the caller gets 503. */
	pid = kbs_keyproc_pid(kp);
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_SIGN, 9, "a", out, sizeof(out)),
			KBS_ERR_UNAVAILABLE);
	pid = wait_restarted(kp, pid);
	CU_ASSERT_NOT_EQUAL(pid, 0);
	/* open() is outside the seccomp list: killed, not answered. */
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_SEAL, 0, "open", out, sizeof(out)),
			KBS_ERR_UNAVAILABLE);
	CU_ASSERT_NOT_EQUAL(wait_restarted(kp, pid), 0);
	kbs_keyproc_free(kp);
}

static void
test_hang_times_out(void)
{
	kbs_keyproc *kp = start(1, 300);
	char out[16];
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	pid = kbs_keyproc_pid(kp);
	CU_ASSERT_EQUAL(call(kp, KBS_KEYPROC_SEAL, 0, "spin", out, sizeof(out)),
			KBS_ERR_UNAVAILABLE);
	CU_ASSERT_NOT_EQUAL(wait_restarted(kp, pid), 0);
	kbs_keyproc_free(kp);
}

static void
test_load_failure_reported(void)
{
	kbs_keyproc_cfg c;
	kbs_keyproc *kp = NULL;
	kbs_errbuf eb = {""};

	memset(&c, 0, sizeof(c));
	c.server = "test";
	c.config = (const uint8_t *)"fail";
	c.config_len = 4;
	CU_ASSERT_EQUAL(kbs_keyproc_start(&c, &kp, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(kp);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "test key file is bad"));
	if (geteuid() == 0) {
		c.user = "no-such-user-kbs";
		CU_ASSERT_EQUAL(kbs_keyproc_start(&c, &kp, &eb), KBS_ERR_CONFIG);
		CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "no-such-user-kbs"));
	}
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child of this process other than old (from /proc), or 0. */
static pid_t
other_child(pid_t old)
{
	char path[300], buf[512], *p, *end;
	struct dirent *d;
	DIR *dir;
	FILE *f;
	long v;
	pid_t found = 0;

	if ((dir = opendir("/proc/self/task")) == NULL)
		return 0;
	while (found == 0 && (d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
			 d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL)
			for (p = buf; found == 0 && *p != '\0'; p = end) {
				v = strtol(p, &end, 10);
				if (end == p)
					break;
				if (v > 0 && (pid_t)v != old)
					found = (pid_t)v;
			}
		fclose(f);
	}
	closedir(dir);
	return found;
}

/*
 * A key process that never says hello (its load hangs) does not hold up
 * kbs_keyproc_free (the daemon's SIGTERM): it is killed, not awaited for
 * the 60 s a start may take.
 */
static void
test_free_does_not_wait_for_a_hung_start(void)
{
	char flag[] = "/tmp/kbs-unit-keyproc-hang-XXXXXX", config[64];
	kbs_keyproc *kp;
	pid_t old, hung = 0;
	long long t0;
	int fd, i;

	fd = mkstemp(flag);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	unlink(flag);
	snprintf(config, sizeof(config), "hang:%s", flag);
	kp = start_with(1, 5000, config);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	old = kbs_keyproc_pid(kp);
	fd = open(flag, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT(kill(old, SIGKILL) == 0);
	/* The replacement appears, and hangs in its load. */
	for (i = 0; i < 300 && hung == 0; i++) {
		usleep(20000);
		hung = other_child(old);
	}
	CU_ASSERT_FATAL(hung != 0);
	usleep(300000);
	CU_ASSERT_EQUAL(kbs_keyproc_pid(kp), 0);
	CU_ASSERT(!kbs_keyproc_up(kp));
	t0 = mono_ms();
	kbs_keyproc_free(kp);
	CU_ASSERT(mono_ms() - t0 < 3000);
	/* Killed and reaped, not left behind. */
	CU_ASSERT(kill(hung, 0) != 0);
	unlink(flag);
}

#define THREADS 12
#define CALLS 40

static void *
hammer(void *arg)
{
	kbs_keyproc *kp = arg;
	char in[32], out[32], want[32];
	long ok = 0;
	int i, j, n;

	for (i = 0; i < CALLS; i++) {
		n = snprintf(in, sizeof(in), "%p-%d", (void *)&in, i);
		for (j = 0; j < n; j++)
			want[j] = in[n - 1 - j];
		want[n] = '\0';
		if (call(kp, KBS_KEYPROC_SIGN, 0, in, out, sizeof(out)) == KBS_OK &&
		    strcmp(out, want) == 0)
			ok++;
	}
	return (void *)ok;
}

static void
test_many_threads_few_channels(void)
{
	kbs_keyproc *kp = start(2, 30000);
	pthread_t t[THREADS];
	void *r;
	long ok = 0;
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	for (i = 0; i < THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, hammer, kp) == 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], &r);
		ok += (long)r;
	}
	CU_ASSERT_EQUAL(ok, THREADS * CALLS);
	kbs_keyproc_free(kp);
}

static const kbs_unit_test tests[] = {
	{"answers, status, sandbox in /proc", test_answers_and_sandbox},
	{"restart after kill -9", test_restart_after_kill},
	{"exit on unknown slot; seccomp kill", test_exit_on_unknown_slot_and_forbidden_call},
	{"a hung key process times out and is replaced", test_hang_times_out},
	{"load failure and unknown user reported", test_load_failure_reported},
	{"free does not wait for a key process that hangs at start",
	 test_free_does_not_wait_for_a_hung_start},
	{"12 threads over 2 channels", test_many_threads_few_channels},
	{NULL, NULL},
};

static const kbs_keyproc_server t_server = {"test", t_load, t_handle};
static const kbs_keyproc_server *const t_servers[] = {&t_server, NULL};

int
main(int argc, char **argv)
{
	/* The key processes the tests start are this program, executed. */
	kbs_keyproc_child_main(argc, argv, t_servers);
	return kbs_unit_run("keyproc", tests);
}
