/*
 * audit.c - audit records and the appending writer (audit.h).
 *
 * Crash safety rests on two facts: each record reaches the file in one
 * write(2) to an O_APPEND descriptor, so concurrent or interrupted writers
 * never interleave inside a line; and the only damage a crash can leave
 * is a last line without its '\n', which kbs_audit_open() cuts off before
 * continuing the chain.  Everything before that line still verifies.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fsutil.h"
#include "jcs.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"

static const char zero_hash[KBS_AUDIT_HASH_HEX] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* ---- pure record functions ---- */

static int
name_in(const char *name, const char *const *list, size_t n, int nocase)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((nocase ? strcasecmp(name, list[i]) : strcmp(name, list[i])) == 0)
			return 1;
	return 0;
}

static int
is_secret_name(const char *name)
{
	static const char *const names[] = {
		"token", "secret", "key", "password", "jwe", "plaintext",
	};

	return name_in(name, names, sizeof(names) / sizeof(names[0]), 1);
}

static int
is_reserved_name(const char *name)
{
	static const char *const names[] = {"time", "seq", "prev", "component"};

	return name_in(name, names, sizeof(names) / sizeof(names[0]), 0);
}

/* Secret-named members and nesting, at every level below v. */
static kbs_err
check_value(const json_t *v, size_t depth, kbs_errbuf *eb)
{
	const char *k;
	json_t *m;
	size_t i;
	kbs_err rc = KBS_OK;

	if ((json_is_object(v) || json_is_array(v)) && depth > KBS_AUDIT_MAX_DEPTH)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "audit fields nested "
				"deeper than %d", KBS_AUDIT_MAX_DEPTH);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, m) {
			if (is_secret_name(k))
				return kbs_errf(eb, KBS_ERR_INVALID, "audit field "
						"\"%s\" may hold a secret; audit "
						"records never carry one", k);
			if ((rc = check_value(m, depth + 1, eb)) != KBS_OK)
				return rc;
		}
	} else if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, m)
			if ((rc = check_value(m, depth + 1, eb)) != KBS_OK)
				return rc;
	}
	return KBS_OK;
}

kbs_err
kbs_audit_fields_check(const json_t *fields, kbs_errbuf *eb)
{
	const char *k;
	json_t *m;

	if (!json_is_object(fields))
		return kbs_errf(eb, KBS_ERR_INVALID, "audit fields must be a JSON "
				"object");
	json_object_foreach((json_t *)fields, k, m) {
		if (is_reserved_name(k))
			return kbs_errf(eb, KBS_ERR_INVALID, "audit field \"%s\" is "
					"set by the writer", k);
	}
	return check_value(fields, 1, eb);
}

/* fields plus the writer's members, in a new object (members shared). */
static json_t *
record_object(const json_t *fields, const char *component,
	      unsigned long long seq, const char *prev, const char *time)
{
	json_t *rec = json_copy((json_t *)fields);

	if (rec == NULL ||
	    json_object_set_new(rec, "component", json_string(component)) != 0 ||
	    json_object_set_new(rec, "seq", json_integer((json_int_t)seq)) != 0 ||
	    json_object_set_new(rec, "prev", json_string(prev)) != 0 ||
	    json_object_set_new(rec, "time", json_string(time)) != 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

kbs_err
kbs_audit_record_line(const json_t *fields, const char *component,
		      unsigned long long seq, const char *prev,
		      const char *time, char **line, size_t *len,
		      kbs_errbuf *eb)
{
	json_t *rec = NULL;
	char *s = NULL, *grown;
	size_t n = 0;
	kbs_err rc;

	if ((rc = kbs_audit_fields_check(fields, eb)) != KBS_OK)
		return rc;
	if (seq < 1 || seq > (unsigned long long)LLONG_MAX ||
	    prev == NULL || strlen(prev) != 64)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "bad audit seq or prev");
	rc = KBS_ERR_NOMEM;
	if ((rec = record_object(fields, component, seq, prev, time)) == NULL) {
		kbs_errf(eb, rc, "out of memory");
		goto out;
	}
	if ((s = kbs_jcs_serialize(rec, &n, eb)) == NULL) {
		rc = KBS_ERR_INVALID;
		goto out;
	}
	if (n > KBS_AUDIT_MAX_LINE) {
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE, "audit record of %zu bytes "
			      "exceeds %d", n, KBS_AUDIT_MAX_LINE);
		goto out;
	}
	if ((grown = realloc(s, n + 2)) == NULL) {
		kbs_errf(eb, rc, "out of memory");
		goto out;
	}
	s = grown;
	s[n++] = '\n';
	s[n] = '\0';
	*line = s;
	*len = n;
	s = NULL;
	rc = KBS_OK;
out:
	free(s);
	json_decref(rec);
	return rc;
}

char *
kbs_audit_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	size_t n;

	buf[0] = '\0';
	if (gmtime_r(&ts->tv_sec, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0)
		return buf;
	snprintf(buf + n, len - n, ".%03ldZ", ts->tv_nsec / 1000000L);
	return buf;
}

kbs_err
kbs_audit_sync_parse(const char *s, kbs_audit_sync *out, kbs_errbuf *eb)
{
	static const char *const names[] = {
		[KBS_AUDIT_SYNC_RECORD] = "record",
		[KBS_AUDIT_SYNC_BATCH] = "batch",
		[KBS_AUDIT_SYNC_NONE] = "none",
	};
	size_t i;

	for (i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (kbs_audit_sync)i;
			return KBS_OK;
		}
	return kbs_errf(eb, KBS_ERR_CONFIG, "audit sync must be record, batch "
			"or none");
}

/* ---- the writer ---- */

struct kbs_audit {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* wakes the batch thread */
	pthread_t flusher;
	int flusher_started;
	int stopping;
	int fd;                  /* -1 after a failed rotation: reopened lazily */
	int broken;              /* a torn write could not be undone */
	int dirty;               /* records since the last fdatasync */
	char *path, *dir, *base, *component;
	kbs_audit_sync sync;
	unsigned batch_ms;
	unsigned long long rotate_bytes;
	unsigned long long size; /* of the live file */
	unsigned long long seq;  /* of the last record, 0 before the first */
	char prev[KBS_AUDIT_HASH_HEX];
	unsigned long next_rot;  /* suffix of the next rotated file */
	kbs_audit_backend be;    /* be.append set: records go there */
};

static int
component_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n < 1 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static kbs_err
cfg_check(const kbs_audit_cfg *cfg, kbs_errbuf *eb)
{
	size_t n = cfg->path ? strlen(cfg->path) : 0;

	if (n == 0 || cfg->path[n - 1] == '/')
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit path must name a file");
	if (n > 4000)
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit path is too long");
	if (!component_ok(cfg->component))
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit component must be "
				"[a-z0-9_-]{1,32}");
	if (cfg->sync != KBS_AUDIT_SYNC_RECORD && cfg->sync != KBS_AUDIT_SYNC_BATCH &&
	    cfg->sync != KBS_AUDIT_SYNC_NONE)
		return kbs_errf(eb, KBS_ERR_CONFIG, "bad audit sync mode");
	if (cfg->sync == KBS_AUDIT_SYNC_BATCH &&
	    (cfg->batch_ms < 1 || cfg->batch_ms > 60000))
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit batch_ms must be "
				"1..60000");
	return KBS_OK;
}

static void
audit_free(kbs_audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a->dir);
	free(a->base);
	free(a->component);
	if (a->be.close != NULL)
		a->be.close(a->be.arg);
	free(a);
}

/* path split into dir (or ".") and base. */
static kbs_audit *
audit_new(const kbs_audit_cfg *cfg)
{
	kbs_audit *a = calloc(1, sizeof(*a));
	const char *slash;
	pthread_condattr_t ca;

	if (a == NULL)
		return NULL;
	a->fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	slash = strrchr(cfg->path, '/');
	a->path = strdup(cfg->path);
	a->component = strdup(cfg->component);
	a->dir = slash == NULL ? strdup(".") :
		kbs_strndup(cfg->path, slash == cfg->path ? 1 :
			    (size_t)(slash - cfg->path));
	a->base = strdup(slash == NULL ? cfg->path : slash + 1);
	if (a->path == NULL || a->component == NULL || a->dir == NULL ||
	    a->base == NULL) {
		audit_free(a);
		return NULL;
	}
	a->sync = cfg->sync;
	a->batch_ms = cfg->batch_ms;
	a->rotate_bytes = cfg->rotate_bytes;
	memcpy(a->prev, zero_hash, sizeof(zero_hash));
	return a;
}

/* "<path>.<n>", zero-padded so that a shell glob lists rotated files in
 * order: `kbs-client audit verify log.* log`.  malloc'd. */
static char *
rotated_name(const kbs_audit *a, unsigned long n)
{
	size_t len = strlen(a->path) + 32;
	char *s = malloc(len);

	if (s != NULL)
		snprintf(s, len, "%s.%06lu", a->path, n);
	return s;
}

/* The highest n of an existing "<base>.<n>" in the directory, or 0. */
static kbs_err
scan_rotated(const kbs_audit *a, unsigned long *last, kbs_errbuf *eb)
{
	size_t blen = strlen(a->base);
	unsigned long max = 0, n;
	struct dirent *e;
	const char *d;
	char *end;
	DIR *dir = opendir(a->dir);

	if (dir == NULL)
		return kbs_errf(eb, KBS_ERR_IO, "open directory %s: %s", a->dir,
				strerror(errno));
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, a->base, blen) != 0 || e->d_name[blen] != '.')
			continue;
		d = e->d_name + blen + 1;
		if (*d < '0' || *d > '9' || strlen(d) > 9)
			continue;
		errno = 0;
		n = strtoul(d, &end, 10);
		if (errno == 0 && *end == '\0' && n > max)
			max = n;
	}
	closedir(dir);
	*last = max;
	return KBS_OK;
}

/* Open (creating) the live file for appending and lock it. */
static kbs_err
open_live(kbs_audit *a, kbs_errbuf *eb)
{
	struct stat st;
	int fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
		      O_NOFOLLOW, 0600);

	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_IO, "open %s: %s", a->path,
				strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		if (errno == EWOULDBLOCK)
			return kbs_errf(eb, KBS_ERR_EXISTS, "%s is in use by another "
					"audit writer (give each replica its own "
					"path)", a->path);
		return kbs_errf(eb, KBS_ERR_IO, "lock %s: %s", a->path,
				strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kbs_errf(eb, KBS_ERR_IO, "%s is not a regular file", a->path);
	}
	a->fd = fd;
	a->size = (unsigned long long)st.st_size;
	return KBS_OK;
}

static kbs_err
pread_all(int fd, char *buf, size_t n, off_t off, kbs_errbuf *eb)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = pread(fd, buf + done, n - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return kbs_errf(eb, KBS_ERR_IO, "read audit log: %s",
					r < 0 ? strerror(errno) : "short file");
		done += (size_t)r;
	}
	return KBS_OK;
}

static const char *
last_nl(const char *buf, size_t n)
{
	while (n > 0)
		if (buf[--n] == '\n')
			return buf + n;
	return NULL;
}

/* What the tail of a log file says about its chain. */
typedef struct {
	unsigned long long keep; /* bytes up to the last '\n' */
	unsigned long long seq;  /* last record's, 0 when there is none */
	char hash[KBS_AUDIT_HASH_HEX];
} tail_info;

/* The last complete record within the window buf (file offset start). */
static kbs_err
tail_parse(const char *buf, size_t n, unsigned long long start, tail_info *t,
	   kbs_errbuf *eb)
{
	const char *end = last_nl(buf, n), *ls;
	char prev[KBS_AUDIT_HASH_HEX];

	t->seq = 0;
	memcpy(t->hash, zero_hash, sizeof(zero_hash));
	if (end == NULL) {
		if (start != 0)
			return kbs_errf(eb, KBS_ERR_INVALID, "no newline in the last "
					"%zu bytes", n);
		t->keep = 0;
		return KBS_OK;
	}
	t->keep = start + (unsigned long long)(end - buf) + 1;
	ls = last_nl(buf, (size_t)(end - buf));
	if (ls == NULL && start != 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "last record is too long");
	ls = ls == NULL ? buf : ls + 1;
	if (kbs_audit_record_parse(ls, (size_t)(end - ls), &t->seq, prev,
				   eb) != KBS_OK)
		return KBS_ERR_INVALID;
	kbs_audit_line_hash(ls, (size_t)(end - ls), t->hash);
	return KBS_OK;
}

/* Read the window that must hold the last record: a torn line and a
 * longest complete line, each with their '\n' at most. */
static kbs_err
tail_scan(int fd, unsigned long long size, tail_info *t, kbs_errbuf *eb)
{
	const unsigned long long cap = 2ull * (KBS_AUDIT_MAX_LINE + 1);
	size_t n = (size_t)(size < cap ? size : cap);
	char *buf = malloc(n > 0 ? n : 1);
	kbs_err rc;

	if (buf == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = pread_all(fd, buf, n, (off_t)(size - n), eb);
	if (rc == KBS_OK)
		rc = tail_parse(buf, n, size - n, t, eb);
	free(buf);
	return rc;
}

/* Cut a torn last line off the live file (a crash mid-write). */
static kbs_err
drop_torn(kbs_audit *a, unsigned long long keep, kbs_errbuf *eb)
{
	if (ftruncate(a->fd, (off_t)keep) != 0 || fsync(a->fd) != 0)
		return kbs_errf(eb, KBS_ERR_IO, "truncate torn record in %s: %s",
				a->path, strerror(errno));
	kbs_log_warn("audit: dropped a torn last record (%llu bytes) from %s",
		     a->size - keep, a->path);
	a->size = keep;
	return KBS_OK;
}

/* The chain's end when the live file is empty: the newest rotated file. */
static kbs_err
resume_rotated(kbs_audit *a, unsigned long n, tail_info *t, kbs_errbuf *eb)
{
	char *name = rotated_name(a, n);
	struct stat st;
	int fd = -1;
	kbs_err rc = KBS_ERR_NOMEM;

	if (name == NULL)
		return kbs_errf(eb, rc, "out of memory");
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = kbs_errf(eb, KBS_ERR_IO, "open %s: %s", name, strerror(errno));
		goto out;
	}
	if ((rc = tail_scan(fd, (unsigned long long)st.st_size, t, eb)) != KBS_OK)
		goto out;
	if (t->seq == 0 || t->keep != (unsigned long long)st.st_size)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "ends without a complete "
			      "record");
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", name);
	if (fd >= 0)
		close(fd);
	free(name);
	return rc;
}

/* seq and prev from the last complete record; the torn tail dropped. */
static kbs_err
resume(kbs_audit *a, unsigned long last_rot, kbs_errbuf *eb)
{
	tail_info t;
	kbs_err rc;

	if ((rc = tail_scan(a->fd, a->size, &t, eb)) != KBS_OK) {
		kbs_errprefix(eb, "audit log %s", a->path);
		return rc;
	}
	if (t.keep < a->size && (rc = drop_torn(a, t.keep, eb)) != KBS_OK)
		return rc;
	if (t.seq == 0 && last_rot > 0 &&
	    (rc = resume_rotated(a, last_rot, &t, eb)) != KBS_OK)
		return rc;
	a->seq = t.seq;
	memcpy(a->prev, t.hash, sizeof(t.hash));
	return KBS_OK;
}

static kbs_err
sync_locked(kbs_audit *a, kbs_errbuf *eb)
{
	if (a->fd >= 0 && fdatasync(a->fd) != 0)
		return kbs_errf(eb, KBS_ERR_IO, "fdatasync %s: %s", a->path,
				strerror(errno));
	a->dirty = 0;
	return KBS_OK;
}

/* Batch mode: sync batch_ms after the first unsynced record. */
static void *
flusher_main(void *arg)
{
	kbs_audit *a = arg;
	kbs_errbuf eb = {""};
	struct timespec dl;

	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		if (!a->dirty) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += a->batch_ms / 1000;
		dl.tv_nsec += (long)(a->batch_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (!a->stopping &&
		       pthread_cond_timedwait(&a->cv, &a->mu, &dl) != ETIMEDOUT)
			;
		if (a->dirty && sync_locked(a, &eb) != KBS_OK)
			kbs_log_error("audit: %s", eb.msg);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

kbs_err
kbs_audit_open(const kbs_audit_cfg *cfg, kbs_audit **out, kbs_errbuf *eb)
{
	kbs_audit *a = NULL;
	unsigned long last_rot = 0;
	kbs_err rc;

	if ((rc = cfg_check(cfg, eb)) != KBS_OK)
		return rc;
	if ((a = audit_new(cfg)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = kbs_fs_mkdirs(a->dir, 0700, eb)) != KBS_OK ||
	    (rc = scan_rotated(a, &last_rot, eb)) != KBS_OK ||
	    (rc = open_live(a, eb)) != KBS_OK ||
	    (rc = resume(a, last_rot, eb)) != KBS_OK ||
	    (rc = kbs_fs_sync_dir(a->dir, eb)) != KBS_OK)
		goto out;
	a->next_rot = last_rot + 1;
	if (a->sync == KBS_AUDIT_SYNC_BATCH) {
		if (pthread_create(&a->flusher, NULL, flusher_main, a) != 0) {
			rc = kbs_errf(eb, KBS_ERR_INTERNAL, "cannot start the audit "
				      "sync thread");
			goto out;
		}
		a->flusher_started = 1;
	}
	*out = a;
	a = NULL;
	rc = KBS_OK;
out:
	audit_free(a);
	return rc;
}

/* Rename the live file to the next free "<path>.<n>" and start a new one;
 * the chain simply continues in it.  After a failure past the rename the
 * live file is reopened by the next append. */
static kbs_err
rotate(kbs_audit *a, kbs_errbuf *eb)
{
	struct stat st;
	char *dst = NULL;
	int tries;
	kbs_err rc = KBS_ERR_IO;

	if ((rc = sync_locked(a, eb)) != KBS_OK)
		return rc;
	for (tries = 0; tries < 1000; tries++, a->next_rot++) {
		free(dst);
		if ((dst = rotated_name(a, a->next_rot)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		if (lstat(dst, &st) != 0 && errno == ENOENT)
			break;
	}
	if (tries == 1000 || rename(a->path, dst) != 0) {
		rc = kbs_errf(eb, KBS_ERR_IO, "rotate %s: %s", a->path,
			      tries == 1000 ? "no free name" : strerror(errno));
		goto out;
	}
	a->next_rot++;
	close(a->fd);
	a->fd = -1;
	if ((rc = open_live(a, eb)) == KBS_OK)
		rc = kbs_fs_sync_dir(a->dir, eb);
out:
	free(dst);
	return rc;
}

/* One write(2) of the whole line; a short write is undone. */
static kbs_err
write_line(kbs_audit *a, const char *line, size_t len, kbs_errbuf *eb)
{
	ssize_t n;

	do
		n = write(a->fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return KBS_OK;
	kbs_errf(eb, KBS_ERR_IO, "write %s: %s", a->path,
		 n < 0 ? strerror(errno) : "short write");
	if (n > 0 && ftruncate(a->fd, (off_t)a->size) != 0)
		a->broken = 1;
	return KBS_ERR_IO;
}

/* Durability and rotation once a record is in the file. */
static kbs_err
after_write(kbs_audit *a, kbs_errbuf *eb)
{
	kbs_errbuf reb = {""};

	if (a->sync == KBS_AUDIT_SYNC_RECORD && sync_locked(a, eb) != KBS_OK) {
		/* Linux may drop the dirty pages after a failed fsync: stop
		 * rather than build on a record that may not exist. */
		a->broken = 1;
		return KBS_ERR_IO;
	}
	if (a->sync == KBS_AUDIT_SYNC_BATCH && !a->dirty) {
		a->dirty = 1;
		pthread_cond_signal(&a->cv);
	}
	/* The record is written; a failed rotation only delays rotating. */
	if (a->rotate_bytes > 0 && a->size >= a->rotate_bytes &&
	    rotate(a, &reb) != KBS_OK)
		kbs_log_error("audit: %s", reb.msg);
	return KBS_OK;
}

static kbs_err
append_locked(kbs_audit *a, const json_t *fields, kbs_errbuf *eb)
{
	char now[KBS_AUDIT_TIME_LEN], *line = NULL;
	struct timespec ts;
	size_t len = 0;
	kbs_err rc;

	if (a->broken)
		return kbs_errf(eb, KBS_ERR_IO, "audit log %s failed earlier; "
				"restart to repair it", a->path);
	if (a->fd < 0 && (rc = open_live(a, eb)) != KBS_OK)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	kbs_audit_time(&ts, now, sizeof(now));
	if ((rc = kbs_audit_record_line(fields, a->component, a->seq + 1, a->prev,
					now, &line, &len, eb)) != KBS_OK ||
	    (rc = write_line(a, line, len, eb)) != KBS_OK)
		goto out;
	a->seq++;
	a->size += len;
	kbs_audit_line_hash(line, len - 1, a->prev);
	rc = after_write(a, eb);
out:
	free(line);
	return rc;
}

kbs_err
kbs_audit_open_backend(const kbs_audit_backend *be, const char *component,
		       kbs_audit **out, kbs_errbuf *eb)
{
	kbs_audit *a = NULL;

	if (be == NULL || be->append == NULL || !component_ok(component)) {
		if (be != NULL && be->close != NULL)
			be->close(be->arg);
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit: bad backend or "
				"component");
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->component = strdup(component)) == NULL) {
		free(a);
		if (be->close != NULL)
			be->close(be->arg);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	a->fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->be = *be;
	a->sync = KBS_AUDIT_SYNC_NONE; /* the backend's commit is the sync */
	memset(a->prev, '0', KBS_AUDIT_HASH_HEX - 1);
	*out = a;
	return KBS_OK;
}

/* Records on a backend: it serialises writers itself (across processes
 * too), so the mutex only guards the last seq/hash kept here. */
static kbs_err
append_backend(kbs_audit *a, const json_t *fields, kbs_errbuf *eb)
{
	char hash[KBS_AUDIT_HASH_HEX];
	unsigned long long seq = 0;
	kbs_err rc;

	rc = a->be.append(a->be.arg, fields, a->component, &seq, hash, eb);
	if (rc != KBS_OK)
		return rc;
	pthread_mutex_lock(&a->mu);
	if (seq > a->seq) {
		a->seq = seq;
		memcpy(a->prev, hash, KBS_AUDIT_HASH_HEX);
	}
	pthread_mutex_unlock(&a->mu);
	return KBS_OK;
}

kbs_err
kbs_audit_append(kbs_audit *a, const json_t *fields, kbs_errbuf *eb)
{
	kbs_err rc;

	if (a->be.append != NULL)
		return append_backend(a, fields, eb);
	pthread_mutex_lock(&a->mu);
	rc = append_locked(a, fields, eb);
	pthread_mutex_unlock(&a->mu);
	kbs_metrics_audit_write(rc == KBS_OK);
	return rc;
}

void
kbs_audit_last(kbs_audit *a, unsigned long long *seq,
	       char hash[KBS_AUDIT_HASH_HEX])
{
	pthread_mutex_lock(&a->mu);
	*seq = a->seq;
	memcpy(hash, a->prev, KBS_AUDIT_HASH_HEX);
	pthread_mutex_unlock(&a->mu);
}

void
kbs_audit_close(kbs_audit *a)
{
	kbs_errbuf eb = {""};

	if (a == NULL)
		return;
	if (a->flusher_started) {
		pthread_mutex_lock(&a->mu);
		a->stopping = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->flusher, NULL);
	}
	if (sync_locked(a, &eb) != KBS_OK)
		kbs_log_error("audit: %s", eb.msg);
	audit_free(a);
}
