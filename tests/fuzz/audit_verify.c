/*
 * libFuzzer driver: the audit chain verifier and record parser
 * (common/audit_verify.c, common/audit.c).  A NUL byte in the input splits
 * it into two files of one chain, verified both as a whole chain and as a
 * partial one.  Checked: no crash or leak, a verdict of "intact" is
 * consistent with the input, and every record line that parses is rebuilt
 * byte for byte by the writer's own kbs_audit_record_line().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
count_nl(const char *p, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += p[i] == '\n';
	return c;
}

/* A parsed record minus the writer's members, rebuilt, is the same line. */
static void
rebuild(const char *line, size_t len)
{
	char prev[KBS_AUDIT_HASH_HEX], *out = NULL, *time = NULL, *comp = NULL;
	unsigned long long seq = 0;
	json_t *rec;
	size_t olen = 0;

	if (kbs_audit_record_parse(line, len, &seq, prev, NULL) != KBS_OK)
		return;
	rec = kbs_json_parse_object(line, len, KBS_AUDIT_MAX_DEPTH, NULL);
	if (rec == NULL)
		abort(); /* it parsed a moment ago */
	time = strdup(kbs_json_str(rec, "time"));
	comp = strdup(kbs_json_str(rec, "component"));
	json_object_del(rec, "time");
	json_object_del(rec, "component");
	json_object_del(rec, "seq");
	json_object_del(rec, "prev");
	if (time != NULL && comp != NULL &&
	    kbs_audit_record_line(rec, comp, seq, prev, time, &out, &olen,
				  NULL) == KBS_OK &&
	    (olen != len + 1 || memcmp(out, line, len) != 0 || out[len] != '\n'))
		abort();
	free(out);
	free(time);
	free(comp);
	json_decref(rec);
}

static void
verify(const char *buf, size_t size, int partial)
{
	const char *nul = memchr(buf, 0, size);
	size_t first = nul ? (size_t)(nul - buf) : size;
	kbs_audit_verifier *v = kbs_audit_verifier_new(partial);
	kbs_audit_result r;

	if (v == NULL)
		return;
	kbs_audit_verifier_buf(v, buf, first);
	if (nul != NULL)
		kbs_audit_verifier_buf(v, nul + 1, size - first - 1);
	kbs_audit_verifier_result(v, &r);
	kbs_audit_verifier_free(v);
	if (r.fault == KBS_AUDIT_INTACT &&
	    (r.records != count_nl(buf, size) || strlen(r.last_hash) != 64))
		abort();
	if (r.fault != KBS_AUDIT_INTACT && r.fault_line == 0 &&
	    r.fault != KBS_AUDIT_UNREADABLE)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nl = memchr(buf, '\n', size);

	verify(buf, size, 0);
	verify(buf, size, 1);
	rebuild(buf, nl ? (size_t)(nl - buf) : size);
	return 0;
}
