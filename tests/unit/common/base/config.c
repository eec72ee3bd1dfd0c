/* Tests for common/config.c: defaults, loading, unknown keys, redaction. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

typedef struct {
	char *name;
	long long n;
	int flag;
	kbs_cfg_strings list;
	char *password;
	json_t *extra;
} tcfg;

static const kbs_cfg_opt opts[] = {
	{"a.name", KBS_CFG_STRING, offsetof(tcfg, name), "dflt", 0, 0, 0, "n"},
	{"a.n", KBS_CFG_INT, offsetof(tcfg, n), "5", 1, 10, 0, "n"},
	{"flag", KBS_CFG_BOOL, offsetof(tcfg, flag), "false", 0, 0, 0, "f"},
	{"list", KBS_CFG_STRINGS, offsetof(tcfg, list), "x,y", 0, 0, 0, "l"},
	{"b.password", KBS_CFG_STRING, offsetof(tcfg, password), NULL, 0, 0,
	 KBS_CFG_SECRET, "p"},
	{"extra", KBS_CFG_JSON, offsetof(tcfg, extra), NULL, 0, 0, 0, "e"},
	{NULL, 0, 0, NULL, 0, 0, 0, NULL},
};

static kbs_err
apply(tcfg *c, const char *text, kbs_errbuf *eb)
{
	json_t *doc = json_loads(text, 0, NULL);
	kbs_err rc = kbs_cfg_apply(opts, c, doc, eb);

	json_decref(doc);
	return rc;
}

static void
test_defaults_and_apply(void)
{
	tcfg c;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(kbs_cfg_defaults(opts, &c, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(c.name, "dflt");
	CU_ASSERT_EQUAL(c.n, 5);
	CU_ASSERT_EQUAL(c.list.n, 2);
	CU_ASSERT_EQUAL(apply(&c, "{\"a\":{\"name\":\"z\",\"n\":7},\"flag\":true,"
			      "\"list\":[\"p\"],\"extra\":{\"k\":[1]}}", NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(c.name, "z");
	CU_ASSERT_EQUAL(c.n, 7);
	CU_ASSERT_EQUAL(c.flag, 1);
	CU_ASSERT_EQUAL(c.list.n, 1);
	CU_ASSERT_STRING_EQUAL(c.list.v[0], "p");
	CU_ASSERT_TRUE(json_is_object(c.extra));
	CU_ASSERT_EQUAL(kbs_cfg_set(opts, &c, "a.n", "9", NULL), KBS_OK);
	CU_ASSERT_EQUAL(c.n, 9);
	kbs_cfg_free(opts, &c);
	CU_ASSERT_PTR_NULL(c.name);
}

static void
test_refusals(void)
{
	kbs_errbuf eb = {""};
	tcfg c;

	memset(&c, 0, sizeof(c));
	kbs_cfg_defaults(opts, &c, NULL);
	CU_ASSERT_EQUAL(apply(&c, "{\"a\":{\"nmae\":\"z\"}}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "a.nmae"));
	CU_ASSERT_EQUAL(apply(&c, "{\"a\":{\"n\":\"7\"}}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(apply(&c, "{\"a\":{\"n\":11}}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "out of range"));
	CU_ASSERT_EQUAL(apply(&c, "{\"flag\":1}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(apply(&c, "{\"list\":[1]}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(apply(&c, "{\"a\":5}", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_cfg_set(opts, &c, "a.n", "3x", &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_cfg_set(opts, &c, "nope", "1", &eb), KBS_ERR_CONFIG);
	kbs_cfg_free(opts, &c);
}

static void
test_redaction(void)
{
	tcfg c;
	json_t *d;
	char *text;

	memset(&c, 0, sizeof(c));
	kbs_cfg_defaults(opts, &c, NULL);
	CU_ASSERT_EQUAL(apply(&c, "{\"b\":{\"password\":\"hunter2\"}}", NULL), KBS_OK);
	d = kbs_cfg_dump(opts, &c);
	text = json_dumps(d, 0);
	CU_ASSERT_PTR_NULL(strstr(text, "hunter2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "<redacted>"));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
				   json_object_get(d, "a"), "name")), "dflt");
	free(text);
	json_decref(d);
	kbs_cfg_free(opts, &c);
}

static void
test_load_file(void)
{
	char path[] = "/tmp/kbs-cfg-XXXXXX";
	int fd = mkstemp(path);
	kbs_errbuf eb = {""};
	tcfg c;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "{\"a\": {\"n\": 3}}", 15) == 15);
	close(fd);
	memset(&c, 0, sizeof(c));
	kbs_cfg_defaults(opts, &c, NULL);
	CU_ASSERT_EQUAL(kbs_cfg_load(opts, &c, path, &eb), KBS_OK);
	CU_ASSERT_EQUAL(c.n, 3);
	unlink(path);
	CU_ASSERT_NOT_EQUAL(kbs_cfg_load(opts, &c, path, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, path));
	kbs_cfg_free(opts, &c);
}

static const kbs_unit_test tests[] = {
	{"defaults and apply", test_defaults_and_apply},
	{"refusals name the key", test_refusals},
	{"secrets redacted", test_redaction},
	{"load from file", test_load_file},
	{NULL, NULL},
};

KBS_UNIT_MAIN("config", tests)
