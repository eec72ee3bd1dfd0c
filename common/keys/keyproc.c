/*
 * keyproc.c - the key process: its start (fork + exec of this binary), its
 * setup, sandbox and service loop after the exec, and the HTTP process's
 * channels to it and restart of it (keyproc.h).
 *
 * The child of the fork only moves its channels to descriptors 3.., sets
 * its parent-death signal and executes /proc/self/exe: the HTTP process
 * has many threads (CivetWeb's, the sanitizers'), any of which may hold a
 * lock (malloc's, OpenSSL's) at the fork, and a forked copy that takes
 * one waits forever.  Everything else happens in the fresh process.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

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

extern char **environ;

struct chan {
	int fd;   /* -1 while down */
	int busy;
	/*
	 * The reply buffer (KBS_KEYPROC_MAX_MSG + 1), made at the channel's
	 * first call and used only by the thread holding the channel: a
	 * 64 KB malloc and free per call cost more than the exchange
	 * (glibc consolidates its fast bins at every free that large).
	 */
	uint8_t *buf;
};

struct kbs_keyproc {
	long long timeout_ms;
	char *name, *user, *group;
	char *argv[4];     /* of the exec: name, KBS_KEYPROC_ARG, server */
	int exe;           /* this binary (/proc/self/exe), close-on-exec */
	uint8_t *setup;    /* the setup record every new key process gets */
	size_t setup_len;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chan ch[MAX_CHANNELS];
	int nch;
	pid_t pid;      /* 0 when none (reaped) */
	pid_t starting; /* a key process not yet ready (0: none) */
	int up;         /* answering */
	unsigned gen;   /* bumped at every death */
	int stopping;
	int sup_started;
	pthread_t sup;
};

/* ---- the key process, after the exec ------------------------------------- */

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
 * The n channels are descriptors CHILD_FD0.. and sockets; close every
 * other fd but stderr (the log: descriptors the HTTP process inherited
 * without close-on-exec crossed the exec too); stdin and stdout become
 * /dev/null.  0 or -1.
 */
static int
keep_only_channels(int n)
{
	struct stat st;
	int i, null;

	for (i = 0; i < n; i++)
		if (fstat(CHILD_FD0 + i, &st) != 0 || !S_ISSOCK(st.st_mode))
			return -1;
	close_from(CHILD_FD0 + n);
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
	    dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
		return -1;
	if (null > STDERR_FILENO)
		close(null);
	return 0;
}

/* Take the uid/gid of the setup and no supplementary groups. */
static int
drop_privileges(const kbs_keyproc_setup *s)
{
	uid_t uid = (uid_t)s->uid;
	gid_t gid = (gid_t)s->gid;

	if (!s->drop)
		return 0;
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		return -1;
	/* Make sure there is no way back. */
	if (setuid(0) == 0 && uid != 0)
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
serve_one(const kbs_keyproc_server *srv, void *state, int fd, uint8_t *in,
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
	st = srv->handle(state, &req, out + 1, KBS_KEYPROC_MAX_MSG - 1,
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
serve(const kbs_keyproc_server *srv, void *state, int n)
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
				serve_one(srv, state, pfd[i].fd, in, out);
		}
	}
}

/* Read and check the setup record from channel 0 into *s (into rec). */
static void
read_setup(uint8_t *rec, kbs_keyproc_setup *s)
{
	ssize_t n = recv(CHILD_FD0, rec, KBS_KEYPROC_MAX_MSG + 1, MSG_TRUNC);

	if (n <= 0 || kbs_keyproc_parse_setup(rec, (size_t)n, MAX_CHANNELS,
					      s) != KBS_OK)
		die("key process: no valid setup record on its channel, "
		    "exiting\n");
}

/*
 * What the libraries set up on first use, done before the sandbox (a
 * fresh process has nothing initialised, a forked one had): the time zone
 * (glibc opens /etc/localtime; OpenSSL's certificate times), both
 * OpenSSL random generators (seeded by getrandom, but created lazily).
 */
static kbs_err
warm_up(kbs_errbuf *eb)
{
	unsigned char b[1];

	tzset();
	if (RAND_bytes(b, sizeof(b)) != 1 || RAND_priv_bytes(b, sizeof(b)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "key process: no randomness");
	OPENSSL_cleanse(b, sizeof(b));
	return KBS_OK;
}

/* The key process after the exec: never returns. */
static void
child_run(const kbs_keyproc_server *srv)
{
	uint8_t *rec = malloc(KBS_KEYPROC_MAX_MSG + 1);
	kbs_errbuf eb = {""};
	kbs_keyproc_setup s;
	void *state = NULL;
	sigset_t none;
	kbs_err rc;

	/* The daemon blocks SIGTERM & co. in every thread; exec kept that. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (rec == NULL)
		die("key process: out of memory\n");
	read_setup(rec, &s);
	/*
	 * Die with the HTTP process, and stay out of core dumps and ptrace.
	 * The exec cleared the parent-death signal if the binary carries file
	 * capabilities, so set it again, then check that the parent is still
	 * the pid that forked us (if it died first, we were reparented):
	 * compare with that pid, not with 1, since in a container the daemon
	 * itself is pid 1.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
	    getppid() != (pid_t)s.parent ||
	    prctl(PR_SET_DUMPABLE, 0) != 0 || kbs_keyproc_not_dumpable() != 1)
		_exit(1);
	if (keep_only_channels(s.channels) != 0)
		die("key process: its channels are not descriptors 3.., "
		    "exiting\n");
	rc = srv->load(s.config, s.config_len, &state, &eb);
	if (rc == KBS_OK)
		rc = warm_up(&eb);
	/* A uid change resets the dumpable flag (to fs.suid_dumpable). */
	if (rc == KBS_OK && (drop_privileges(&s) != 0 ||
			     prctl(PR_SET_DUMPABLE, 0) != 0 ||
			     kbs_keyproc_not_dumpable() != 1))
		rc = kbs_errf(&eb, KBS_ERR_CONFIG, "key process: cannot take "
			      "uid %u gid %u", (unsigned)s.uid, (unsigned)s.gid);
	if (rc == KBS_OK && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
			     kbs_keyproc_sandbox(&eb) != KBS_OK))
		rc = kbs_errf(&eb, KBS_ERR_INTERNAL, "key process: %s",
			      eb.msg[0] ? eb.msg : "no_new_privs refused");
	free(rec); /* s.config pointed into it: not needed any more */
	send_hello(CHILD_FD0, rc, eb.msg);
	if (rc != KBS_OK)
		_exit(1);
	serve(srv, state, s.channels);
	_exit(0);
}

void
kbs_keyproc_child_main(int argc, char **argv,
		       const kbs_keyproc_server *const *servers)
{
	size_t i;

	if (argc != 3 || argv[1] == NULL || strcmp(argv[1], KBS_KEYPROC_ARG) != 0)
		return;
	for (i = 0; servers[i] != NULL; i++)
		if (strcmp(servers[i]->name, argv[2]) == 0)
			child_run(servers[i]);
	die("key process: this program has no such key server\n");
}

/* ---- between the fork and the exec --------------------------------------- */

/*
 * In the forked child: system calls only (no malloc, no lock, no stdio,
 * nothing that may wait for another thread of the parent).  The n
 * channels go to CHILD_FD0.. without close-on-exec (dup2 clears it), the
 * parent-death signal is set and checked against the pid that forked us,
 * and the binary is executed afresh; every other descriptor of the
 * parent that is close-on-exec goes with the exec, the rest is closed
 * after it (keep_only_channels).
 */
static void
exec_child(const int *fds, int n, int exe, pid_t parent, char *const *argv)
{
	int tmp[MAX_CHANNELS], x, i;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	/* Above every target first, so no dup2 overwrites one we still need. */
	if ((x = fcntl(exe, F_DUPFD_CLOEXEC, CHILD_FD0 + MAX_CHANNELS)) < 0)
		_exit(1);
	for (i = 0; i < n; i++)
		if ((tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC,
				    CHILD_FD0 + MAX_CHANNELS)) < 0)
			_exit(1);
	for (i = 0; i < n; i++)
		if (dup2(tmp[i], CHILD_FD0 + i) < 0)
			_exit(1);
	fexecve(x, argv, environ);
	_exit(127);
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
 * Note the key process being started, so that kbs_keyproc_free can kill
 * it instead of waiting for its hello (0: none any more).
 */
static void
set_starting(kbs_keyproc *kp, pid_t pid)
{
	pthread_mutex_lock(&kp->mu);
	kp->starting = pid;
	if (pid > 0 && kp->stopping)
		kill(pid, SIGKILL);
	pthread_mutex_unlock(&kp->mu);
}

/* Its hello: KBS_OK, or why it did not load its keys (eb). */
static kbs_err
await_hello(int fd, kbs_errbuf *eb)
{
	uint8_t hello[1 + KBS_ERRBUF_LEN + 1];
	int r = wait_readable(fd, START_TIMEOUT_MS);
	ssize_t n = r == 1 ? recv(fd, hello, sizeof(hello) - 1, 0) : -1;

	if (n <= 0 || hello[0] >= KBS_ERR__COUNT)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "key process %s before it "
				"loaded its keys", r == 0 ? "hung" : "died");
	if (hello[0] != KBS_OK) {
		hello[n] = '\0';
		return kbs_errf(eb, (kbs_err)hello[0], "%s", (char *)hello + 1);
	}
	return KBS_OK;
}

/*
 * Start a key process with fresh channels and wait for its hello; on
 * success *pid and mine[] (the parent's ends) are set.
 */
static kbs_err
spawn(kbs_keyproc *kp, pid_t *pid, int *mine, kbs_errbuf *eb)
{
	int theirs[MAX_CHANNELS], sv[2], i;
	pid_t p, self = getpid();
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
	if (p == 0)
		exec_child(theirs, kp->nch, kp->exe, self, kp->argv);
	close_fds(theirs, kp->nch);
	set_starting(kp, p);
	if (send(mine[0], kp->setup, kp->setup_len, MSG_NOSIGNAL) !=
	    (ssize_t)kp->setup_len)
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "key process died before it "
			      "loaded its keys");
	else
		rc = await_hello(mine[0], eb);
	set_starting(kp, 0);
	if (rc != KBS_OK) {
		reap_now(p);
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

/* The deadline ms from now, for pthread_cond_timedwait (CLOCK_REALTIME). */
static struct timespec
deadline(long long ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)(ms / 1000);
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	return dl;
}

/* Sleep ms, or less when kbs_keyproc_free stops us: 1 when stopping. */
static int
pause_unless_stopping(kbs_keyproc *kp, long long ms)
{
	struct timespec dl = deadline(ms);
	int stopping;

	pthread_mutex_lock(&kp->mu);
	while (!kp->stopping &&
	       pthread_cond_timedwait(&kp->cv, &kp->mu, &dl) != ETIMEDOUT)
		;
	stopping = kp->stopping;
	pthread_mutex_unlock(&kp->mu);
	return stopping;
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
		if (pause_unless_stopping(kp, 0))
			return;
		if (spawn(kp, &pid, fds, &eb) == KBS_OK)
			break;
		kbs_log_error("%s: key process restart failed: %s (again in "
			      "%lld ms)", kp->name, eb.msg, backoff);
		if (pause_unless_stopping(kp, backoff))
			return;
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

/*
 * The setup record (user and group resolved now, by name: NSS has no
 * business in the key process).
 */
static kbs_err
make_setup(kbs_keyproc *kp, const kbs_keyproc_cfg *cfg, kbs_errbuf *eb)
{
	kbs_keyproc_setup s;
	struct passwd *pw;
	struct group *gr;

	memset(&s, 0, sizeof(s));
	s.parent = (uint32_t)getpid();
	s.channels = (uint8_t)kp->nch;
	s.config = cfg->config;
	s.config_len = cfg->config_len;
	if (geteuid() == 0) {
		if ((pw = getpwnam(kp->user)) == NULL)
			return kbs_errf(eb, KBS_ERR_CONFIG, "keyproc.user %s: no "
					"such user", kp->user);
		if ((gr = getgrnam(kp->group)) == NULL)
			return kbs_errf(eb, KBS_ERR_CONFIG, "keyproc.group %s: no "
					"such group", kp->group);
		s.uid = (uint32_t)pw->pw_uid;
		s.gid = (uint32_t)gr->gr_gid;
		s.drop = 1;
	}
	if (kbs_keyproc_encode_setup(&s, &kp->setup, &kp->setup_len) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "key process "
				"configuration too large");
	return KBS_OK;
}

/* Name, argv and binary of the key process. */
static kbs_err
prepare(kbs_keyproc *kp, const kbs_keyproc_cfg *cfg, kbs_errbuf *eb)
{
	if ((kp->name = strdup(cfg->name ? cfg->name : "kbs")) == NULL ||
	    (kp->user = strdup(cfg->user ? cfg->user : "nobody")) == NULL ||
	    (kp->group = strdup(cfg->group ? cfg->group : "nogroup")) == NULL ||
	    (kp->argv[0] = strdup(kp->name)) == NULL ||
	    (kp->argv[1] = strdup(KBS_KEYPROC_ARG)) == NULL ||
	    (kp->argv[2] = strdup(cfg->server ? cfg->server : "")) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	/* Opened now: the path may be replaced (an upgrade) or /proc
	 * unmounted later; the descriptor keeps this very binary. */
	if ((kp->exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) < 0)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "key process: cannot open "
				"/proc/self/exe: %s", strerror(errno));
	return make_setup(kp, cfg, eb);
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
	kp->exe = -1;
	kp->nch = cfg->channels > 0 ? cfg->channels : 8;
	if (kp->nch > MAX_CHANNELS)
		kp->nch = MAX_CHANNELS;
	kp->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
	for (i = 0; i < MAX_CHANNELS; i++)
		kp->ch[i].fd = -1;
	pthread_mutex_init(&kp->mu, NULL);
	pthread_cond_init(&kp->cv, NULL);
	if ((rc = prepare(kp, cfg, eb)) != KBS_OK ||
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
		     geteuid() == 0 ? ", own uid" : "");
	*out = kp;
	return KBS_OK;
out:
	kbs_keyproc_free(kp);
	return rc;
}

kbs_err
kbs_keyproc_start_server(const kbs_keyproc_cfg *opts, const char *server,
			 const char *config, kbs_keyproc **out,
			 kbs_errbuf *eb)
{
	kbs_keyproc_cfg kc = *opts;

	kc.server = server;
	kc.config = (const uint8_t *)config;
	kc.config_len = strlen(config);
	return kbs_keyproc_start(&kc, out, eb);
}

/* A free channel, marked busy; -1 when down or none frees in time. */
static int
acquire(kbs_keyproc *kp, unsigned *gen)
{
	struct timespec dl = deadline(kp->timeout_ms);
	int i;

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
	    wait_readable(fd, kp->timeout_ms) != 1)
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
	rc = kbs_errf(eb, KBS_ERR_UNAVAILABLE, "key process unavailable");
	if ((i = acquire(kp, &gen)) < 0)
		goto out;
	if (kp->ch[i].buf == NULL &&
	    (kp->ch[i].buf = kbs_malloc(KBS_KEYPROC_MAX_MSG + 1)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	buf = kp->ch[i].buf;
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
	/* Before another thread reuses it; all of it after a failed
	 * exchange, which may have left an oversized reply's first bytes. */
	if (buf != NULL)
		OPENSSL_cleanse(buf, n > 0 ? (size_t)n : KBS_KEYPROC_MAX_MSG + 1);
	if (i >= 0)
		release(kp, i, gen, n <= 0 || rc == KBS_ERR_UNAVAILABLE);
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
	/* Also one still starting: its hello is not waited for. */
	if (kp->pid > 0)
		kill(kp->pid, SIGKILL);
	if (kp->starting > 0)
		kill(kp->starting, SIGKILL);
	pthread_cond_broadcast(&kp->cv);
	pthread_mutex_unlock(&kp->mu);
	if (kp->sup_started)
		pthread_join(kp->sup, NULL);
	if (kp->pid > 0) /* no supervisor, or it left before reaping */
		while (waitpid(kp->pid, &st, 0) < 0 && errno == EINTR)
			;
	for (i = 0; i < MAX_CHANNELS; i++) {
		if (kp->ch[i].fd >= 0)
			close(kp->ch[i].fd);
		free(kp->ch[i].buf); /* wiped after each reply */
	}
	if (kp->exe >= 0)
		close(kp->exe);
	pthread_mutex_destroy(&kp->mu);
	pthread_cond_destroy(&kp->cv);
	free(kp->setup);
	free(kp->argv[0]);
	free(kp->argv[1]);
	free(kp->argv[2]);
	free(kp->name);
	free(kp->user);
	free(kp->group);
	free(kp);
}
