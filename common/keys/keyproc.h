/*
 * keyproc.h - a small process of its own that holds private keys and
 * answers "sign / seal / open / wrap / unwrap these bytes" over
 * socketpairs (OpenBSD acme-client's keyproc, relayd's ca.c, h2o's
 * neverbleed), so that a memory bug in the HTTP process, which parses
 * every hostile input, cannot read the keys.
 *
 * The HTTP process starts the key process once its configuration is
 * parsed, and again whenever it dies: it forks and at once executes its
 * own binary (/proc/self/exe, opened at start) with argv[1] ==
 * KBS_KEYPROC_ARG and argv[2] the name of its server, so that nothing runs in a forked copy of a
 * multithreaded process but exec (a fork of CivetWeb's threads may
 * inherit a lock another thread held: the allocator's, OpenSSL's).  The
 * new process's main() hands over to kbs_keyproc_child_main(), which
 * reads what to be from its first record on channel 0 (keyproc_proto.h,
 * "Setup": file paths, never key bytes), loads the keys (srv->load),
 * becomes non-dumpable, takes its own uid/gid when started as root,
 * closes every descriptor but its socketpairs, sets no_new_privs and a
 * seccomp allow-list, and then only answers length-checked requests.
 * Anything malformed makes it exit.  A supervisor thread restarts a key
 * process that died; requests meanwhile fail with KBS_ERR_UNAVAILABLE
 * (503).
 *
 * Worker threads share a bounded pool of channels (one socketpair each,
 * one request at a time on each); a request that finds none free within
 * the timeout, or whose answer does not come within it, fails with
 * KBS_ERR_UNAVAILABLE, and a key process that does not answer in time is
 * killed and restarted.
 */
#ifndef KBS_KEYPROC_H
#define KBS_KEYPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "keyproc_proto.h"

typedef struct kbs_keyproc kbs_keyproc;

/* The detail of a 503 while the key process is down (docs/api.md). */
#define KBS_KEYPROC_DOWN "the key process is restarting; retry"

/* What a key process runs: in the child, after the exec. */
typedef struct {
	const char *name; /* argv[2]: which server ("keys", "kek") */
	/*
	 * Before the sandbox: load the keys config names (the bytes the
	 * parent's kbs_keyproc_cfg.config held) into *state.  On failure the
	 * detail in eb is sent to the parent, whose kbs_keyproc_start fails
	 * with it.
	 */
	kbs_err (*load)(const uint8_t *config, size_t len, void **state,
			kbs_errbuf *eb);
	/*
	 * Sandboxed: answer req, writing at most cap payload bytes to out
	 * and their count to *outlen.  A kbs_err other than KBS_OK is sent as
	 * the status (no payload).  Return KBS_KEYPROC_EXIT (not a kbs_err)
	 * to make the key process exit instead: an unknown slot or a request
	 * this key process never serves.
	 */
	int (*handle)(void *state, const kbs_keyproc_req *req, uint8_t *out,
		      size_t cap, size_t *outlen);
} kbs_keyproc_server;

/* What handle returns to make the key process exit. */
#define KBS_KEYPROC_EXIT (-1)

/* argv[1] of an executed key process. */
#define KBS_KEYPROC_ARG "--key-process"

/*
 * The first call in main() of every program that starts a key process:
 * when argv is a key process's (exactly three arguments, argv[1] ==
 * KBS_KEYPROC_ARG), run the server of servers (NULL-terminated) named by
 * argv[2] and exit (status 1 if none has that name); otherwise return at
 * once.  The channels are descriptors 3.. (the setup record says how
 * many).
 */
void kbs_keyproc_child_main(int argc, char **argv,
			    const kbs_keyproc_server *const *servers);

typedef struct {
	const char *name;  /* program name, for log lines ("kbs-issuer") */
	const char *server; /* the kbs_keyproc_server to run, by name */
	/* The key process's user and group when started as root (resolved
	 * before the fork); NULL: "nobody" and "nogroup". */
	const char *user;
	const char *group;
	int channels;          /* socketpairs, 1..64 (default 8) */
	long long timeout_ms;  /* per request (default 5000) */
	/*
	 * What the child's load() gets (copied; sent at every start over the
	 * socketpair): which key files, which options.  Not secret: key
	 * bytes never leave the key process.  At most about 64 KiB.
	 */
	const uint8_t *config;
	size_t config_len;
} kbs_keyproc_cfg;

/*
 * Resolve the user, start the key process (fork + exec of this binary,
 * whose main() must call kbs_keyproc_child_main) and wait (up to 60 s:
 * it may generate a key) until it has loaded its keys; eb says why not
 * (the child's own detail when its load failed).  Call it from a thread
 * that lives as long as *out (the main thread): the first key process's
 * parent-death signal follows the thread that forked it.  *out is the
 * caller's (kbs_keyproc_free).
 */
kbs_err kbs_keyproc_start(const kbs_keyproc_cfg *cfg, kbs_keyproc **out,
			  kbs_errbuf *eb);

/*
 * kbs_keyproc_start with opts (name, user, group, channels, timeout)
 * running server with the configuration text config (a NUL-terminated
 * string, typically JSON; not kept): how each key server starts its
 * process.
 */
kbs_err kbs_keyproc_start_server(const kbs_keyproc_cfg *opts,
				 const char *server, const char *config,
				 kbs_keyproc **out, kbs_errbuf *eb);

/*
 * Send req and wait for the answer.  On KBS_OK *payload (malloc'd; the
 * caller wipes it with kbs_freezero when it is secret) holds *plen
 * bytes.  Otherwise the key process's status (KBS_ERR_VERIFY, ...), or
 * KBS_ERR_UNAVAILABLE when it is down, restarting, busy past the timeout
 * or answered garbage, or KBS_ERR_TOO_LARGE when req does not fit a
 * record.  Thread-safe.
 */
kbs_err kbs_keyproc_call(kbs_keyproc *kp, const kbs_keyproc_req *req,
			 uint8_t **payload, size_t *plen, kbs_errbuf *eb);

/* The key process's pid now (0 while it is being restarted). */
pid_t kbs_keyproc_pid(kbs_keyproc *kp);

/* 1 when a key process is running and has loaded its keys. */
int kbs_keyproc_up(kbs_keyproc *kp);

/*
 * Stop the key process (also one being started or restarted: this never
 * waits for a start to finish) and free kp; NULL is a no-op.
 */
void kbs_keyproc_free(kbs_keyproc *kp);

#endif
