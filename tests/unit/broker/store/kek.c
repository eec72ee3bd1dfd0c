/*
 * kek.c - tests of broker/store/kek.c without a KMIP server: KEK files
 * (mode, length, encoding), ids, the options (file or KMIP identifier,
 * old_keks in both forms, "kmip" required exactly when a KEK is in KMIP)
 * and a KMIP server that cannot be reached at start being a
 * configuration error.  Loading from a real PyKMIP server runs in
 * tests/blackbox/test_ha_kmip.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kek.h"
#include "kekring.h"
#include "tmpfile.h"
#include "unit.h"

/* Load one file KEK under id. */
static kbs_err
load_one(const char *id, const char *file)
{
	kbs_kek_config c;
	kbs_kek out[KBS_KEK_MAX];
	kbs_errbuf eb = {""};
	kbs_err rc;

	memset(&c, 0, sizeof(c));
	c.src[0].id = id;
	c.src[0].kind = KBS_KEK_FILE;
	c.src[0].ref = file;
	c.n = 1;
	memset(out, 0x77, sizeof(out));
	rc = kbs_kek_load_all(&c, out, &eb);
	if (rc == KBS_OK) {
		CU_ASSERT_STRING_EQUAL(out[0].id, id);
	} else { /* wiped on failure */
		CU_ASSERT_EQUAL(out[0].key[0], 0);
	}
	return rc;
}

/* load_one of a KEK file with these bytes and permission bits. */
static kbs_err
load_file(const char *name, const void *data, size_t len, mode_t mode)
{
	return load_one("k1", kbs_unit_tmpfile(name, data, len, mode));
}

static void
test_files(void)
{
	uint8_t raw[64]; /* 33 bytes are written for "long" */
	char hex[66];
	kbs_kek_config c;
	kbs_kek out[KBS_KEK_MAX];
	size_t i;

	memset(raw, 0x5a, sizeof(raw));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", (unsigned)(i * 7));
	hex[64] = '\n';
	CU_ASSERT_EQUAL(load_file("raw", raw, 32, 0600), KBS_OK);
	CU_ASSERT_EQUAL(load_file("grp", raw, 32, 0640), KBS_OK);
	CU_ASSERT_EQUAL(load_file("hex", hex, 65, 0600), KBS_OK);
	CU_ASSERT_EQUAL(load_file("hex2", hex, 64, 0400), KBS_OK);
	/* The bytes: hex decoded. */
	memset(&c, 0, sizeof(c));
	c.src[0].id = "h";
	c.src[0].kind = KBS_KEK_FILE;
	c.src[0].ref = kbs_unit_tmpfile("hex3", hex, 64, 0600);
	c.n = 1;
	CU_ASSERT_EQUAL_FATAL(kbs_kek_load_all(&c, out, NULL), KBS_OK);
	CU_ASSERT(out[0].key[0] == 0 && out[0].key[1] == 7 &&
		  out[0].key[31] == (uint8_t)(31 * 7));
	/* Readable by others, writable by the group: refused. */
	CU_ASSERT_EQUAL(load_file("world", raw, 32, 0644), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(load_file("gw", raw, 32, 0660), KBS_ERR_CONFIG);
	/* Wrong lengths and encodings. */
	CU_ASSERT_EQUAL(load_file("short", raw, 31, 0600), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(load_file("long", raw, 33, 0600), KBS_ERR_CONFIG);
	hex[3] = 'g';
	CU_ASSERT_EQUAL(load_file("badhex", hex, 64, 0600), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(load_one("k1", "/nonexistent/kek"), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_kek_load_all(NULL, out, NULL), KBS_ERR_CONFIG);
}

/* The strings of a parsed config are borrowed: the document lives until
 * the next parse (or cleanup). */
static json_t *held;

static kbs_err
parse(const char *text, kbs_kek_config *c, kbs_errbuf *eb)
{
	json_decref(held);
	held = json_loads(text, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(held);
	return kbs_kek_config_from_json(held, c, eb);
}

#define KMIP_OPTS "\"kmip\": {\"host\": \"127.0.0.1\", \"port\": 1, " \
	"\"ca_file\": \"/nonexistent/ca\", \"cert_file\": \"/nonexistent/c\", " \
	"\"key_file\": \"/nonexistent/k\", \"timeout_ms\": 500}"

static void
test_options(void)
{
	kbs_kek_config c;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL_FATAL(parse("{\"kek_id\": \"k2\", \"kek_kmip_uid\": "
				    "\"42\", \"old_keks\": {\"k1\": \"/f1\", "
				    "\"k0\": {\"file\": \"/f0\"}, \"km\": "
				    "{\"kmip_uid\": \"7\"}}, " KMIP_OPTS "}",
				    &c, &eb), KBS_OK);
	CU_ASSERT_EQUAL(c.n, 4);
	CU_ASSERT(c.src[0].kind == KBS_KEK_KMIP &&
		  strcmp(c.src[0].ref, "42") == 0 &&
		  strcmp(c.src[0].id, "k2") == 0);
	CU_ASSERT(c.src[1].kind == KBS_KEK_FILE &&
		  strcmp(c.src[1].ref, "/f1") == 0);
	CU_ASSERT(c.src[2].kind == KBS_KEK_FILE &&
		  strcmp(c.src[2].ref, "/f0") == 0);
	CU_ASSERT(c.src[3].kind == KBS_KEK_KMIP &&
		  strcmp(c.src[3].ref, "7") == 0);
	CU_ASSERT(c.has_kmip && c.kmip.port == 1 && c.kmip.timeout_ms == 500);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\"}",
			      &c, &eb), KBS_OK);
	CU_ASSERT(c.n == 1 && !c.has_kmip);
	/* Both sources, or neither. */
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"kek_kmip_uid\": \"1\", " KMIP_OPTS "}", &c, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "exactly one"));
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\"}", &c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_kmip_uid\": \"\", "
			      KMIP_OPTS "}", &c, &eb), KBS_ERR_CONFIG);
	/* A KMIP KEK without the server, or the server without a KMIP KEK. */
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_kmip_uid\": \"1\"}",
			      &c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "needs \"kmip\""));
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      KMIP_OPTS "}", &c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_kmip_uid\": \"1\", "
			      "\"kmip\": {\"host\": \"h\", \"bogus\": 1}}", &c,
			      &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "unknown option bogus"));
	/* old_keks: bad shapes, ids twice, bad ids. */
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"old_keks\": {\"k0\": {\"file\": \"/a\", "
			      "\"kmip_uid\": \"2\"}}}", &c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"old_keks\": {\"k0\": 5}}", &c, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"old_keks\": [\"/a\"]}", &c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"old_keks\": {\"k1\": \"/a\"}}", &c, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "used twice"));
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k 1\", \"kek_file\": \"/f\"}", &c,
			      &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"\", \"kek_file\": \"/f\"}", &c,
			      &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k'1\", \"kek_file\": \"/f\"}", &c,
			      &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("{\"kek_id\": \"k1\", \"kek_file\": \"/f\", "
			      "\"old_keks\": {\"a\": \"1\", \"b\": \"1\", \"c\": "
			      "\"1\", \"d\": \"1\", \"e\": \"1\", \"f\": \"1\", "
			      "\"g\": \"1\", \"h\": \"1\"}}", &c, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(parse("[1]", &c, &eb), KBS_ERR_CONFIG);
}

/* KMIP unusable at start: a configuration error naming the KEK. */
static void
test_kmip_unusable(void)
{
	kbs_kek_config c;
	kbs_kek out[KBS_KEK_MAX];
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL_FATAL(parse("{\"kek_id\": \"k9\", \"kek_kmip_uid\": "
				    "\"1\", " KMIP_OPTS "}", &c, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kek_load_all(&c, out, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "kek k9"));
}

/*
 * --check-config's offline check: the files as load_all reads them, the
 * option at fault named; KMIP's files are loaded but no Get is sent.
 */
static void
test_check_all(void)
{
	uint8_t raw[32];
	kbs_kek_config c;
	kbs_errbuf eb = {""};

	memset(raw, 0x3c, sizeof(raw));
	memset(&c, 0, sizeof(c));
	c.src[0] = (kbs_kek_source){"k1", KBS_KEK_FILE,
				    kbs_unit_tmpfile("c1", raw, 32, 0600)};
	c.src[1] = (kbs_kek_source){"k0", KBS_KEK_FILE,
				    kbs_unit_tmpfile("c0", raw, 32, 0440)};
	c.n = 2;
	CU_ASSERT_EQUAL(kbs_kek_check_all(&c, &eb), KBS_OK);
	c.src[1].ref = kbs_unit_tmpfile("c0open", raw, 32, 0604);
	CU_ASSERT_EQUAL(kbs_kek_check_all(&c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "old_keks.k0"));
	c.src[0].ref = kbs_unit_tmpfile("c1short", raw, 16, 0600);
	CU_ASSERT_EQUAL(kbs_kek_check_all(&c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "kek_file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "need 32 bytes"));
	CU_ASSERT_EQUAL(kbs_kek_check_all(NULL, &eb), KBS_ERR_CONFIG);
	/* KMIP: its TLS files are missing, and that is all it can tell. */
	CU_ASSERT_EQUAL_FATAL(parse("{\"kek_id\": \"k9\", \"kek_kmip_uid\": "
				    "\"1\", " KMIP_OPTS "}", &c, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kek_check_all(&c, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "kmip (kek)"));
	CU_ASSERT_PTR_NULL(strstr(eb.msg, "KMIP Get"));
}

static void
cleanup(void)
{
	json_decref(held);
	held = NULL;
}

/*
 * Data keys sealed under a KEK: they open only for the same path and the
 * same KEK (its id is bound too), never with another length, and a path
 * that is none is refused before anything is sealed.
 */
static void
test_wrap_unwrap(void)
{
	kbs_kek a, b;
	uint8_t dek[KBS_KEK_LEN], w[KBS_KEK_WRAPPED_LEN], w2[KBS_KEK_WRAPPED_LEN];
	uint8_t got[KBS_KEK_LEN];
	char longp[KBS_KEK_PATH_MAX + 2];

	memset(&a, 0, sizeof(a));
	memset(dek, 0x5a, sizeof(dek));
	memset(a.key, 0x11, sizeof(a.key));
	snprintf(a.id, sizeof(a.id), "k1");
	b = a;
	snprintf(b.id, sizeof(b.id), "k2"); /* same bytes, another id */
	CU_ASSERT_EQUAL_FATAL(kbs_kek_wrap(&a, "x/y/z", 5, dek, w, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&a, "x/y/z", 5, w, sizeof(w), got, NULL),
			KBS_OK);
	CU_ASSERT(memcmp(got, dek, sizeof(dek)) == 0);
	/* Fresh IV each time. */
	CU_ASSERT_EQUAL(kbs_kek_wrap(&a, "x/y/z", 5, dek, w2, NULL), KBS_OK);
	CU_ASSERT(memcmp(w, w2, sizeof(w)) != 0);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&a, "x/y/q", 5, w, sizeof(w), got, NULL),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&a, "x/y/z/", 6, w, sizeof(w), got, NULL),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&b, "x/y/z", 5, w, sizeof(w), got, NULL),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&a, "x/y/z", 5, w, sizeof(w) - 1, got,
				       NULL), KBS_ERR_VERIFY);
	w[20] ^= 1;
	CU_ASSERT_EQUAL(kbs_kek_unwrap(&a, "x/y/z", 5, w, sizeof(w), got, NULL),
			KBS_ERR_VERIFY);
	/* dek untouched by every failure. */
	CU_ASSERT(got[0] == 0 && got[KBS_KEK_LEN - 1] == 0);
	/* Paths that are none: empty, a NUL inside, too long. */
	CU_ASSERT_EQUAL(kbs_kek_wrap(&a, "", 0, dek, w, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_kek_wrap(&a, "x\0y", 3, dek, w, NULL),
			KBS_ERR_INVALID);
	memset(longp, 'p', sizeof(longp));
	CU_ASSERT_EQUAL(kbs_kek_wrap(&a, longp, KBS_KEK_PATH_MAX, dek, w, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_kek_wrap(&a, longp, KBS_KEK_PATH_MAX + 1, dek, w,
				     NULL), KBS_ERR_INVALID);
	OPENSSL_cleanse(&a, sizeof(a));
	OPENSSL_cleanse(&b, sizeof(b));
}

/* A local ring: slots by id, the current KEK first, ids unique. */
static void
test_ring_local(void)
{
	kbs_kek k[2];
	kbs_kekring *r = NULL;
	uint8_t dek[KBS_KEK_LEN], w[KBS_KEK_WRAPPED_LEN], got[KBS_KEK_LEN];
	kbs_errbuf eb = {""};

	memset(k, 0, sizeof(k));
	memset(dek, 7, sizeof(dek));
	snprintf(k[0].id, sizeof(k[0].id), "new");
	snprintf(k[1].id, sizeof(k[1].id), "old");
	k[1].key[0] = 1;
	CU_ASSERT_EQUAL_FATAL(kbs_kekring_local(k, 2, &r, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kekring_count(r), 2);
	CU_ASSERT_STRING_EQUAL(kbs_kekring_id(r, 0), "new");
	CU_ASSERT_PTR_NULL(kbs_kekring_id(r, 2));
	CU_ASSERT_EQUAL(kbs_kekring_find(r, "old", 3), 1);
	CU_ASSERT_EQUAL(kbs_kekring_find(r, "ol", 2), -1);
	CU_ASSERT(kbs_kekring_up(r, &eb));
	CU_ASSERT_EQUAL(kbs_kekring_wrap(r, 1, "a/b/c", dek, w, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_kekring_unwrap(r, 1, "a/b/c", w, sizeof(w), got, &eb),
			KBS_OK);
	CU_ASSERT(memcmp(got, dek, sizeof(dek)) == 0);
	CU_ASSERT_EQUAL(kbs_kekring_unwrap(r, 0, "a/b/c", w, sizeof(w), got, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_kekring_wrap(r, 2, "a/b/c", dek, w, &eb),
			KBS_ERR_INTERNAL);
	kbs_kekring_free(r);
	snprintf(k[1].id, sizeof(k[1].id), "new");
	CU_ASSERT_EQUAL(kbs_kekring_local(k, 2, &r, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_kekring_local(k, 0, &r, &eb), KBS_ERR_CONFIG);
	kbs_kekring_free(NULL);
}

static const kbs_unit_test tests[] = {
	{"files", test_files},
	{"options", test_options},
	{"kmip_unusable", test_kmip_unusable},
	{"check_all: offline, the option named", test_check_all},
	{"wrap and unwrap bind path and KEK id", test_wrap_unwrap},
	{"a local ring of KEKs", test_ring_local},
	{"cleanup", cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("kek", tests)
