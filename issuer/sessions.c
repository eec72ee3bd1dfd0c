/* sessions.c - the session store interface and the in-process store. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rand.h"
#include "sessions.h"

#define BUCKETS 1024

kbs_err
kbs_sessions_put(kbs_sessions *s, const char *id, const char *token,
		 long long exp, long long now, kbs_errbuf *eb)
{
	return s->ops->put(s, id, token, exp, now, eb);
}

kbs_err
kbs_sessions_get(kbs_sessions *s, const char *id, long long now, char **token,
		 kbs_errbuf *eb)
{
	return s->ops->get(s, id, now, token, eb);
}

void
kbs_sessions_free(kbs_sessions *s)
{
	if (s != NULL)
		s->ops->free(s);
}

kbs_err
kbs_sessions_new_id(char id[KBS_SESSIONS_ID_LEN + 1])
{
	return kbs_rand_hex(id, KBS_SESSIONS_ID_LEN / 2);
}

/* ---- in-process store ---------------------------------------------------- */

struct entry {
	struct entry *next;
	char id[KBS_SESSIONS_ID_LEN + 1];
	long long exp;
	char *token;
};

struct mem {
	kbs_sessions base;
	pthread_mutex_t mu;
	struct entry *b[BUCKETS];
	size_t n, max;
};

/* FNV-1a: ids are random, any spread will do. */
static size_t
bucket(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h % BUCKETS;
}

static void
entry_free(struct entry *e)
{
	kbs_strfreezero(e->token);
	free(e);
}

/* Drop every entry past its exp (the lock is held). */
static void
sweep(struct mem *m, long long now)
{
	struct entry **pp, *e;
	size_t i;

	for (i = 0; i < BUCKETS; i++)
		for (pp = &m->b[i]; (e = *pp) != NULL;) {
			if (now > e->exp) {
				*pp = e->next;
				entry_free(e);
				m->n--;
			} else {
				pp = &e->next;
			}
		}
}

static int
id_ok(const char *id)
{
	return id != NULL && strlen(id) == KBS_SESSIONS_ID_LEN;
}

static kbs_err
mem_put(kbs_sessions *s, const char *id, const char *token, long long exp,
	long long now, kbs_errbuf *eb)
{
	struct mem *m = (struct mem *)s;
	struct entry *e;
	size_t h;

	if (!id_ok(id))
		return kbs_errf(eb, KBS_ERR_INVALID, "bad session id");
	if (strlen(token) > KBS_SESSIONS_TOKEN_MAX)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "session token too large");
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->token = strdup(token)) == NULL) {
		free(e);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	memcpy(e->id, id, KBS_SESSIONS_ID_LEN + 1);
	e->exp = exp;
	h = bucket(id);
	pthread_mutex_lock(&m->mu);
	if (m->n >= m->max)
		sweep(m, now);
	if (m->n >= m->max) {
		pthread_mutex_unlock(&m->mu);
		entry_free(e);
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "session store full (%zu "
				"live sessions)", m->max);
	}
	e->next = m->b[h];
	m->b[h] = e;
	m->n++;
	pthread_mutex_unlock(&m->mu);
	return KBS_OK;
}

static kbs_err
mem_get(kbs_sessions *s, const char *id, long long now, char **token,
	kbs_errbuf *eb)
{
	struct mem *m = (struct mem *)s;
	struct entry *e;
	char *copy = NULL;
	kbs_err rc = KBS_ERR_NOT_FOUND;

	if (!id_ok(id))
		return kbs_errf(eb, rc, "no such session");
	pthread_mutex_lock(&m->mu);
	for (e = m->b[bucket(id)]; e != NULL; e = e->next)
		if (strcmp(e->id, id) == 0)
			break;
	if (e != NULL && now <= e->exp)
		rc = (copy = strdup(e->token)) != NULL ? KBS_OK : KBS_ERR_NOMEM;
	pthread_mutex_unlock(&m->mu);
	if (rc != KBS_OK)
		return kbs_errf(eb, rc, rc == KBS_ERR_NOMEM ? "out of memory"
			       : "no such session (expired, or held by another "
				 "replica)");
	*token = copy;
	return KBS_OK;
}

static void
mem_free(kbs_sessions *s)
{
	struct mem *m = (struct mem *)s;
	struct entry *e, *next;
	size_t i;

	for (i = 0; i < BUCKETS; i++)
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static const struct kbs_sessions_ops mem_ops = {
	.name = "memory",
	.put = mem_put,
	.get = mem_get,
	.free = mem_free,
};

kbs_err
kbs_sessions_memory_new(size_t max_entries, kbs_sessions **out)
{
	struct mem *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return KBS_ERR_NOMEM;
	m->base.ops = &mem_ops;
	m->max = max_entries > 0 ? max_entries : 1;
	pthread_mutex_init(&m->mu, NULL);
	*out = &m->base;
	return KBS_OK;
}
