/*
 * keyproc.c - the key process: its start, sandbox, service loop, and the
 * HTTP process's channels to it and restart of it (keyproc.h).
 *
 * The child is forked, not executed afresh: it needs only what the
 * parsed configuration already says.  A restart forks from a process
 * whose other threads may hold locks (OpenSSL's); kbs_log is lock-free
 * and glibc resets malloc and stdio locks in the child, and a child that
 * hangs anyway is killed when its hello does not come, and forked again.
 */
/* setresuid/setresgid */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keyproc.h"
#include "keyproc_int.h"
#include "log.h"
#include "mem.h"

#define MAX_CHANNELS 64
#define START_TIMEOUT_MS 60000
/* First fd of the channels in the child; below it only stdio. */
#define CHILD_FD0 3
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct chan {
	int fd;   /* -1 while down */
	int busy;
};

struct kbs_keyproc {
	kbs_keyproc_cfg cfg;
	char *name, *user, *group;
	uid_t uid;
	gid_t gid;
	int drop;      /* started as root: take uid/gid */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chan ch[MAX_CHANNELS];
	int nch;
	pid_t pid;     /* 0 when none (reaped) */
	int up;        /* answering */
	unsigned gen;  /* bumped at every death */
	int stopping;
	int sup_started;
	pthread_t sup;
};

/* ---- the child ----------------------------------------------------------- */

/* Close every descriptor from lo up; close_range where the kernel has it. */
static void
close_from(int lo)
{
	int fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
		return;
#endif
	for (fd = lo; fd < 65536; fd++)
		close(fd);
}

/*
 * Move the n channel fds to CHILD_FD0.. and close every other fd but
 * stderr (the log); stdin and stdout become /dev/null.  0 or -1.
 */
static int
keep_only_channels(const int *fds, int n)
{
	int tmp[MAX_CHANNELS], i, null;

	/* Above every target first, so no dup2 overwrites a channel. */
	for (i = 0; i < n; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD, CHILD_FD0 + MAX_CHANNELS)) < 0)
			return -1;
	for (i = 0; i < n; i++)
		if (dup2(tmp[i], CHILD_FD0 + i) < 0)
			return -1;
	close_from(CHILD_FD0 + n);
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
	    dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
		return -1;
	close(null);
	return 0;
}

/* Take the configured uid/gid and no supplementary groups. */
static int
drop_privileges(const kbs_keyproc *kp)
{
	if (!kp->drop)
		return 0;
	if (setgroups(0, NULL) != 0 ||
	    setresgid(kp->gid, kp->gid, kp->gid) != 0 ||
	    setresuid(kp->uid, kp->uid, kp->uid) != 0)
		return -1;
	/* Make sure there is no way back. */
	if (setuid(0) == 0 && kp->uid != 0)
		return -1;
	return 0;
}

/* First record to the parent: status and, on failure, why. */
static void
send_hello(int fd, kbs_err rc, const char *why)
{
	uint8_t buf[1 + KBS_ERRBUF_LEN];
	size_t n = rc == KBS_OK ? 0 : strnlen(why, KBS_ERRBUF_LEN);

	buf[0] = (uint8_t)rc;
	memcpy(buf + 1, why, n);
	if (send(fd, buf, 1 + n, MSG_NOSIGNAL) < 0)
		_exit(1);
}

/* Leave at once, saying why on stderr (write(2) only: sandboxed). */
static void
die(const char *why)
{
	if (write(STDERR_FILENO, why, strlen(why)) < 0)
		_exit(3);
	_exit(3);
}

/* Answer one record from fd; returns only if the loop goes on. */
static void
serve_one(const kbs_keyproc *kp, void *state, int fd, uint8_t *in,
	  uint8_t *out)
{
	kbs_keyproc_req req;
	ssize_t n = recv(fd, in, KBS_KEYPROC_MAX_MSG + 1, MSG_TRUNC);
	size_t outlen = 0;
	int st;

	if (n == 0)
		_exit(0); /* the HTTP process closed its end: it is gone */
	if (n < 0)
		die("key process: channel read failed, exiting\n");
	if (kbs_keyproc_parse_req(in, (size_t)n, &req) != KBS_OK)
		die("key process: malformed or oversize request, exiting\n");
	st = kp->cfg.handle(state, &req, out + 1, KBS_KEYPROC_MAX_MSG - 1,
			    &outlen);
	if (st == KBS_KEYPROC_EXIT || st < 0 || st >= KBS_ERR__COUNT ||
	    outlen > KBS_KEYPROC_MAX_MSG - 1)
		die("key process: request for no key it holds, exiting\n");
	out[0] = (uint8_t)st;
	if (st != KBS_OK)
		outlen = 0;
	if (send(fd, out, 1 + outlen, MSG_NOSIGNAL) < 0)
		die("key process: channel write failed, exiting\n");
	OPENSSL_cleanse(out, 1 + outlen);
}

static void
serve(const kbs_keyproc *kp, void *state, int n)
{
	struct pollfd pfd[MAX_CHANNELS];
	uint8_t *in = malloc(KBS_KEYPROC_MAX_MSG + 1);
	uint8_t *out = malloc(KBS_KEYPROC_MAX_MSG);
	int i;

	if (in == NULL || out == NULL)
		die("key process: out of memory\n");
	for (i = 0; i < n; i++) {
		pfd[i].fd = CHILD_FD0 + i;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("key process: poll failed\n");
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				die("key process: channel error\n");
			if (pfd[i].revents & (POLLIN | POLLHUP))
				serve_one(kp, state, pfd[i].fd, in, out);
		}
	}
}

/* The child after fork(): never returns. */
static void
child_main(const kbs_keyproc *kp, const int *fds, int n, pid_t parent)
{
	kbs_errbuf eb = {""};
	void *state = NULL;
	kbs_err rc;

	/*
	 * Die with the HTTP process, and stay out of core dumps and ptrace.
	 * The parent may have died before PDEATHSIG was set: compare with
	 * its pid, not with 1 (in a container the daemon itself is pid 1).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent ||
	    prctl(PR_SET_DUMPABLE, 0) != 0 || kbs_keyproc_not_dumpable() != 1)
		_exit(1);
	if (keep_only_channels(fds, n) != 0)
		_exit(1);
	rc = kp->cfg.load(kp->cfg.arg, &state, &eb);
	/* A uid change resets the dumpable flag (to fs.suid_dumpable). */
	if (rc == KBS_OK && (drop_privileges(kp) != 0 ||
			     prctl(PR_SET_DUMPABLE, 0) != 0 ||
			     kbs_keyproc_not_dumpable() != 1))
		rc = kbs_errf(&eb, KBS_ERR_CONFIG, "key process: cannot become "
			      "%s:%s", kp->user, kp->group);
	if (rc == KBS_OK && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
			     kbs_keyproc_sandbox(&eb) != KBS_OK))
		rc = kbs_errf(&eb, KBS_ERR_INTERNAL, "key process: %s",
			      eb.msg[0] ? eb.msg : "no_new_privs refused");
	send_hello(CHILD_FD0, rc, eb.msg);
	if (rc != KBS_OK)
		_exit(1);
	serve(kp, state, n);
	_exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for fd to be readable: 1, 0 on timeout, -1 on error. */
static int
wait_readable(int fd, long long ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	long long end = now_ms() + ms, left;
	int r;

	for (;;) {
		left = end - now_ms();
		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)(left > 1 << 30 ? 1 << 30 : left));
		if (r >= 0 || errno != EINTR)
			return r > 0 ? 1 : r;
	}
}

static void
close_fds(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Kill and reap a child that never became ready. */
static void
reap_now(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/*
 * Fork a key process with fresh channels and wait for its hello; on
 * success *pid and mine[] (the parent's ends) are set.
 */
static kbs_err
spawn(const kbs_keyproc *kp, pid_t *pid, int *mine, kbs_errbuf *eb)
{
	int theirs[MAX_CHANNELS], sv[2], i, r;
	uint8_t hello[1 + KBS_ERRBUF_LEN + 1];
	ssize_t n;
	pid_t p, parent = getpid();
	kbs_err rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process: socketpair: %s",
			      "failed");

	for (i = 0; i < kp->nch; i++)
		mine[i] = theirs[i] = -1;
	for (i = 0; i < kp->nch; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
			goto fail;
		mine[i] = sv[0];
		theirs[i] = sv[1];
	}
	if ((p = fork()) < 0) {
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process: fork: %s",
			      strerror(errno));
		goto fail;
	}
	if (p == 0) {
		close_fds(mine, kp->nch);
		child_main(kp, theirs, kp->nch, parent);
	}
	close_fds(theirs, kp->nch);
	r = wait_readable(mine[0], START_TIMEOUT_MS);
	n = r == 1 ? recv(mine[0], hello, sizeof(hello) - 1, 0) : -1;
	if (n <= 0 || hello[0] >= KBS_ERR__COUNT) {
		reap_now(p);
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process %s before it "
			      "loaded its keys", r == 0 ? "hung" : "died");
		goto fail;
	}
	if (hello[0] != KBS_OK) {
		hello[n] = '\0';
		reap_now(p);
		rc = kbs_errf(eb, (kbs_err)hello[0], "%s", (char *)hello + 1);
		goto fail;
	}
	*pid = p;
	return KBS_OK;
fail:
	close_fds(theirs, kp->nch);
	close_fds(mine, kp->nch);
	return rc;
}

/* Install a running child; kp->mu held. */
static void
install(kbs_keyproc *kp, pid_t pid, const int *fds)
{
	int i;

	for (i = 0; i < kp->nch; i++) {
		kp->ch[i].fd = fds[i];
		kp->ch[i].busy = 0;
	}
	kp->pid = pid;
	kp->up = 1;
	pthread_cond_broadcast(&kp->cv);
}

/*
 * After the child died: wait until no request uses a channel (each fails
 * at once on a dead peer), close them, reap.  kp->mu held.
 */
static int
retire(kbs_keyproc *kp)
{
	int i, busy, st = 0;

	kp->up = 0;
	kp->gen++;
	pthread_cond_broadcast(&kp->cv);
	do {
		for (busy = 0, i = 0; i < kp->nch; i++)
			busy |= kp->ch[i].busy;
		if (busy)
			pthread_cond_wait(&kp->cv, &kp->mu);
	} while (busy);
	for (i = 0; i < kp->nch; i++)
		if (kp->ch[i].fd >= 0) {
			close(kp->ch[i].fd);
			kp->ch[i].fd = -1;
		}
	while (kp->pid > 0 && waitpid(kp->pid, &st, 0) < 0 && errno == EINTR)
		;
	kp->pid = 0;
	return st;
}

static void
sleep_ms(long long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Start a new key process after one died, until one runs or we stop. */
static void
restart(kbs_keyproc *kp)
{
	long long backoff = BACKOFF_MIN_MS;
	int fds[MAX_CHANNELS];
	kbs_errbuf eb = {""};
	pid_t pid;

	for (;;) {
		pthread_mutex_lock(&kp->mu);
		if (kp->stopping) {
			pthread_mutex_unlock(&kp->mu);
			return;
		}
		pthread_mutex_unlock(&kp->mu);
		if (spawn(kp, &pid, fds, &eb) == KBS_OK)
			break;
		kbs_log_error("%s: key process restart failed: %s (again in "
			      "%lld ms)", kp->name, eb.msg, backoff);
		sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	pthread_mutex_lock(&kp->mu);
	if (kp->stopping) {
		pthread_mutex_unlock(&kp->mu);
		close_fds(fds, kp->nch);
		reap_now(pid);
		return;
	}
	install(kp, pid, fds);
	pthread_mutex_unlock(&kp->mu);
	kbs_log_info("%s: key process restarted (pid %d)", kp->name, (int)pid);
}

/*
 * The supervisor: wait (without reaping, so that the pid cannot be
 * reused while a request may still kill it) for the key process to end,
 * retire it, start another.
 */
static void *
supervise(void *arg)
{
	kbs_keyproc *kp = arg;
	siginfo_t si;
	pid_t pid;
	int st;

	for (;;) {
		pthread_mutex_lock(&kp->mu);
		pid = kp->stopping ? 0 : kp->pid;
		pthread_mutex_unlock(&kp->mu);
		if (pid <= 0)
			return NULL;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 &&
		    errno == EINTR)
			continue;
		pthread_mutex_lock(&kp->mu);
		st = retire(kp);
		if (kp->stopping) {
			pthread_mutex_unlock(&kp->mu);
			return NULL;
		}
		pthread_mutex_unlock(&kp->mu);
		if (WIFSIGNALED(st))
			kbs_log_error("%s: key process (pid %d) killed by signal "
				      "%d; restarting", kp->name, (int)pid,
				      WTERMSIG(st));
		else
			kbs_log_error("%s: key process (pid %d) exited with "
				      "status %d; restarting", kp->name, (int)pid,
				      WEXITSTATUS(st));
		restart(kp);
	}
}

/* Resolve user and group now: NSS has no business in the child. */
static kbs_err
resolve_ids(kbs_keyproc *kp, kbs_errbuf *eb)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0)
		return KBS_OK;
	if ((pw = getpwnam(kp->user)) == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "keyproc.user %s: no such "
				"user", kp->user);
	if ((gr = getgrnam(kp->group)) == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "keyproc.group %s: no such "
				"group", kp->group);
	kp->uid = pw->pw_uid;
	kp->gid = gr->gr_gid;
	kp->drop = 1;
	return KBS_OK;
}

kbs_err
kbs_keyproc_start(const kbs_keyproc_cfg *cfg, kbs_keyproc **out,
		  kbs_errbuf *eb)
{
	kbs_keyproc *kp = calloc(1, sizeof(*kp));
	int fds[MAX_CHANNELS], i;
	pid_t pid;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (kp == NULL)
		return rc;
	kp->cfg = *cfg;
	kp->nch = cfg->channels > 0 ? cfg->channels : 8;
	if (kp->nch > MAX_CHANNELS)
		kp->nch = MAX_CHANNELS;
	if (kp->cfg.timeout_ms <= 0)
		kp->cfg.timeout_ms = 5000;
	for (i = 0; i < MAX_CHANNELS; i++)
		kp->ch[i].fd = -1;
	pthread_mutex_init(&kp->mu, NULL);
	pthread_cond_init(&kp->cv, NULL);
	if ((kp->name = strdup(cfg->name ? cfg->name : "kbs")) == NULL ||
	    (kp->user = strdup(cfg->user ? cfg->user : "nobody")) == NULL ||
	    (kp->group = strdup(cfg->group ? cfg->group : "nogroup")) == NULL)
		goto out;
	if ((rc = resolve_ids(kp, eb)) != KBS_OK ||
	    (rc = spawn(kp, &pid, fds, eb)) != KBS_OK)
		goto out;
	install(kp, pid, fds);
	if (pthread_create(&kp->sup, NULL, supervise, kp) != 0) {
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process supervisor: "
			      "cannot start a thread");
		goto out;
	}
	kp->sup_started = 1;
	kbs_log_info("%s: key process started (pid %d, %d channels%s)",
		     kp->name, (int)pid, kp->nch,
		     kp->drop ? ", own uid" : "");
	*out = kp;
	return KBS_OK;
out:
	kp->cfg.free_arg = NULL; /* arg stays the caller's */
	kbs_keyproc_free(kp);
	return rc;
}

/* A free channel, marked busy; -1 when down or none frees in time. */
static int
acquire(kbs_keyproc *kp, unsigned *gen)
{
	struct timespec dl;
	int i;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(kp->cfg.timeout_ms / 1000);
	dl.tv_nsec += (long)(kp->cfg.timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&kp->mu);
	for (;;) {
		if (!kp->up)
			break;
		for (i = 0; i < kp->nch && kp->ch[i].busy; i++)
			;
		if (i < kp->nch) {
			kp->ch[i].busy = 1;
			*gen = kp->gen;
			pthread_mutex_unlock(&kp->mu);
			return i;
		}
		if (pthread_cond_timedwait(&kp->cv, &kp->mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&kp->mu);
	return -1;
}

/*
 * Give channel i back.  broken: the exchange failed (dead, hung or
 * garbage), so the key process of generation gen is killed; the
 * supervisor restarts it.
 */
static void
release(kbs_keyproc *kp, int i, unsigned gen, int broken)
{
	pthread_mutex_lock(&kp->mu);
	kp->ch[i].busy = 0;
	if (broken && kp->up && kp->gen == gen && kp->pid > 0) {
		kp->up = 0;
		kill(kp->pid, SIGKILL);
	}
	pthread_cond_broadcast(&kp->cv);
	pthread_mutex_unlock(&kp->mu);
}

/* One exchange on fd; the reply record into buf. */
static ssize_t
exchange(kbs_keyproc *kp, int fd, const uint8_t *req, size_t len,
	 uint8_t *buf)
{
	ssize_t n;

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    wait_readable(fd, kp->cfg.timeout_ms) != 1)
		return -1;
	n = recv(fd, buf, KBS_KEYPROC_MAX_MSG + 1, MSG_TRUNC | MSG_DONTWAIT);
	return n > KBS_KEYPROC_MAX_MSG ? -1 : n;
}

kbs_err
kbs_keyproc_call(kbs_keyproc *kp, const kbs_keyproc_req *req,
		 uint8_t **payload, size_t *plen, kbs_errbuf *eb)
{
	uint8_t *msg = NULL, *buf = NULL, *res = NULL;
	const uint8_t *p;
	size_t len = 0, pl = 0;
	ssize_t n = -1;
	unsigned gen = 0;
	kbs_err rc, st;
	int i = -1;

	if ((rc = kbs_keyproc_encode_req(req, &msg, &len)) != KBS_OK)
		return kbs_errf(eb, rc, "key process request: %s",
				kbs_strerror(rc));
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((buf = kbs_malloc(KBS_KEYPROC_MAX_MSG + 1)) == NULL)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_UNAVAILABLE, "key process unavailable");
	if ((i = acquire(kp, &gen)) < 0)
		goto out;
	n = exchange(kp, kp->ch[i].fd, msg, len, buf);
	if (n <= 0 || kbs_keyproc_parse_reply(buf, (size_t)n, &st, &p,
					      &pl) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, st, "key process: %s", kbs_strerror(st));
	if (st != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((res = kbs_malloc(pl ? pl : 1)) == NULL)
		goto out;
	memcpy(res, p, pl);
	*payload = res;
	*plen = pl;
	rc = KBS_OK;
out:
	if (i >= 0)
		release(kp, i, gen, n <= 0 || rc == KBS_ERR_UNAVAILABLE);
	if (buf != NULL)
		kbs_freezero(buf, n > 0 ? (size_t)n : 0);
	kbs_freezero(msg, len);
	return rc;
}

pid_t
kbs_keyproc_pid(kbs_keyproc *kp)
{
	pid_t pid;

	pthread_mutex_lock(&kp->mu);
	pid = kp->up ? kp->pid : 0;
	pthread_mutex_unlock(&kp->mu);
	return pid;
}

int
kbs_keyproc_up(kbs_keyproc *kp)
{
	return kbs_keyproc_pid(kp) != 0;
}

void
kbs_keyproc_free(kbs_keyproc *kp)
{
	int i, st;

	if (kp == NULL)
		return;
	pthread_mutex_lock(&kp->mu);
	kp->stopping = 1;
	if (kp->pid > 0)
		kill(kp->pid, SIGKILL);
	pthread_mutex_unlock(&kp->mu);
	if (kp->sup_started)
		pthread_join(kp->sup, NULL);
	if (kp->pid > 0) /* no supervisor, or it left before reaping */
		while (waitpid(kp->pid, &st, 0) < 0 && errno == EINTR)
			;
	for (i = 0; i < MAX_CHANNELS; i++)
		if (kp->ch[i].fd >= 0)
			close(kp->ch[i].fd);
	if (kp->cfg.free_arg != NULL)
		kp->cfg.free_arg(kp->cfg.arg);
	pthread_mutex_destroy(&kp->mu);
	pthread_cond_destroy(&kp->cv);
	free(kp->name);
	free(kp->user);
	free(kp->group);
	free(kp);
}
