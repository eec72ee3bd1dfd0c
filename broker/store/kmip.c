/*
 * kmip.c - KMIP 1.x request and response messages on top of ttlv.c, and
 * the five operations the resource store uses (see kmip.h).
 *
 * Requests carry protocol version 1.2 and one batch item.  Responses are
 * checked for shape before anything is believed: one Response Message,
 * a header whose Batch Count is 1, exactly one Batch Item, the operation
 * we asked for (when the server echoes it) and a Result Status.
 */
#include <stdlib.h>
#include <string.h>

#include "kmip.h"
#include "mem.h"

#define KMIP_MAJOR 1
#define KMIP_MINOR 2

#define KMIP_ALG_AES 0x03
#define KMIP_USAGE_ENCRYPT_DECRYPT 0x0C
#define KMIP_NAME_UNINTERPRETED 0x01
#define KMIP_FORMAT_RAW 0x01
#define KMIP_FORMAT_OPAQUE 0x02
#define KMIP_SECRET_PASSWORD 0x01
#define KMIP_TAG_KEY_WRAPPING_DATA 0x420046

/* The server's Result Message is cut to this many bytes in details. */
#define KMIP_MSG_SHOWN 120

static const char *
op_name(kbs_kmip_op op)
{
	switch (op) {
	case KBS_KMIP_OP_CREATE: return "Create";
	case KBS_KMIP_OP_REGISTER: return "Register";
	case KBS_KMIP_OP_LOCATE: return "Locate";
	case KBS_KMIP_OP_GET: return "Get";
	case KBS_KMIP_OP_DESTROY: return "Destroy";
	}
	return "operation";
}

/* KMIP 1.x Result Reason names (section 9.1.3.2.29). */
static const char *
reason_name(uint32_t r)
{
	static const char *const names[] = {
		NULL, "Item Not Found", "Response Too Large",
		"Authentication Not Successful", "Invalid Message",
		"Operation Not Supported", "Missing Data", "Invalid Field",
		"Feature Not Supported", "Operation Canceled By Requester",
		"Cryptographic Failure", "Illegal Operation",
		"Permission Denied", "Object Archived", "Index Out of Bounds",
		"Application Namespace Not Supported",
		"Key Format Type Not Supported",
		"Key Compression Type Not Supported", "Encoding Option Error",
		"Key Value Not Present", "Attestation Required",
		"Attestation Failed", "Sensitive", "Not Extractable",
		"Object Already Exists",
	};

	if (r < sizeof(names) / sizeof(names[0]) && names[r] != NULL)
		return names[r];
	return r == 0x100 ? "General Failure" : "unknown reason";
}

/* ---- requests ---------------------------------------------------------- */

/* Root and header of a request; returns the Request Payload. */
static kbs_ttlv *
req_begin(kbs_kmip_op op, kbs_ttlv **root)
{
	kbs_ttlv *hdr, *pv, *bi;

	*root = kbs_ttlv_new_struct(KBS_KMIP_TAG_REQUEST_MESSAGE);
	hdr = kbs_ttlv_add_struct(*root, KBS_KMIP_TAG_REQUEST_HEADER);
	pv = kbs_ttlv_add_struct(hdr, KBS_KMIP_TAG_PROTOCOL_VERSION);
	kbs_ttlv_add_int(pv, KBS_KMIP_TAG_PROTOCOL_VERSION_MAJOR, KMIP_MAJOR);
	kbs_ttlv_add_int(pv, KBS_KMIP_TAG_PROTOCOL_VERSION_MINOR, KMIP_MINOR);
	kbs_ttlv_add_int(hdr, KBS_KMIP_TAG_BATCH_COUNT, 1);
	bi = kbs_ttlv_add_struct(*root, KBS_KMIP_TAG_BATCH_ITEM);
	kbs_ttlv_add_enum(bi, KBS_KMIP_TAG_OPERATION, op);
	return kbs_ttlv_add_struct(bi, KBS_KMIP_TAG_REQUEST_PAYLOAD);
}

static kbs_err
req_finish(kbs_ttlv *root, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	kbs_err rc;

	if (root == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: request");
	rc = kbs_ttlv_encode(root, out, len, eb);
	kbs_ttlv_free(root);
	return rc;
}

/* An Attribute {Attribute Name, Attribute Value}; returns the Attribute. */
static kbs_ttlv *
add_attr(kbs_ttlv *parent, const char *name)
{
	kbs_ttlv *a = kbs_ttlv_add_struct(parent, KBS_KMIP_TAG_ATTRIBUTE);

	kbs_ttlv_add_text(a, KBS_KMIP_TAG_ATTRIBUTE_NAME, name, strlen(name));
	return a;
}

static void
add_attr_name(kbs_ttlv *parent, const char *name)
{
	kbs_ttlv *v = kbs_ttlv_add_struct(add_attr(parent, "Name"),
					  KBS_KMIP_TAG_ATTRIBUTE_VALUE);

	kbs_ttlv_add_text(v, KBS_KMIP_TAG_NAME_VALUE, name, strlen(name));
	kbs_ttlv_add_enum(v, KBS_KMIP_TAG_NAME_TYPE, KMIP_NAME_UNINTERPRETED);
}

static kbs_err
check_text(const char *s, size_t max, const char *what, kbs_errbuf *eb)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return kbs_errf(eb, KBS_ERR_INVALID, "kmip: %s empty or longer "
				"than %zu bytes", what, max);
	return KBS_OK;
}

kbs_err
kbs_kmip_req_create_aes256(const char *name, uint8_t **out, size_t *len,
			   kbs_errbuf *eb)
{
	kbs_ttlv *root = NULL, *pl, *ta;
	kbs_err rc;

	if ((rc = check_text(name, KBS_KMIP_MAX_NAME, "name", eb)) != KBS_OK)
		return rc;
	pl = req_begin(KBS_KMIP_OP_CREATE, &root);
	kbs_ttlv_add_enum(pl, KBS_KMIP_TAG_OBJECT_TYPE,
			  KBS_KMIP_OBJ_SYMMETRIC_KEY);
	ta = kbs_ttlv_add_struct(pl, KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE);
	kbs_ttlv_add_enum(add_attr(ta, "Cryptographic Algorithm"),
			  KBS_KMIP_TAG_ATTRIBUTE_VALUE, KMIP_ALG_AES);
	kbs_ttlv_add_int(add_attr(ta, "Cryptographic Length"),
			 KBS_KMIP_TAG_ATTRIBUTE_VALUE, 256);
	kbs_ttlv_add_int(add_attr(ta, "Cryptographic Usage Mask"),
			 KBS_KMIP_TAG_ATTRIBUTE_VALUE,
			 KMIP_USAGE_ENCRYPT_DECRYPT);
	add_attr_name(ta, name);
	return req_finish(root, out, len, eb);
}

/* The Key Block of a registered object. */
static void
add_key_block(kbs_ttlv *obj, kbs_kmip_objtype type, const uint8_t *data,
	      size_t len)
{
	kbs_ttlv *kb = kbs_ttlv_add_struct(obj, KBS_KMIP_TAG_KEY_BLOCK);
	kbs_ttlv *kv;

	kbs_ttlv_add_enum(kb, KBS_KMIP_TAG_KEY_FORMAT_TYPE,
			  type == KBS_KMIP_OBJ_SYMMETRIC_KEY ?
				  KMIP_FORMAT_RAW : KMIP_FORMAT_OPAQUE);
	kv = kbs_ttlv_add_struct(kb, KBS_KMIP_TAG_KEY_VALUE);
	kbs_ttlv_add_bytes(kv, KBS_KMIP_TAG_KEY_MATERIAL, data, len);
	if (type == KBS_KMIP_OBJ_SYMMETRIC_KEY) {
		kbs_ttlv_add_enum(kb, KBS_KMIP_TAG_CRYPTO_ALGORITHM,
				  KMIP_ALG_AES);
		kbs_ttlv_add_int(kb, KBS_KMIP_TAG_CRYPTO_LENGTH,
				 (int32_t)(len * 8));
	}
}

kbs_err
kbs_kmip_req_register(kbs_kmip_objtype type, const char *name,
		      const uint8_t *data, size_t len, uint8_t **out,
		      size_t *olen, kbs_errbuf *eb)
{
	kbs_ttlv *root = NULL, *pl, *ta, *obj;
	kbs_err rc;

	if ((rc = check_text(name, KBS_KMIP_MAX_NAME, "name", eb)) != KBS_OK)
		return rc;
	if (type == KBS_KMIP_OBJ_SYMMETRIC_KEY &&
	    len != 16 && len != 24 && len != 32)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"kmip: AES key of %zu bytes", len);
	if (type != KBS_KMIP_OBJ_SYMMETRIC_KEY &&
	    type != KBS_KMIP_OBJ_SECRET_DATA)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "kmip: object type");
	if (data == NULL && len > 0)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kmip: no data");
	pl = req_begin(KBS_KMIP_OP_REGISTER, &root);
	kbs_ttlv_add_enum(pl, KBS_KMIP_TAG_OBJECT_TYPE, type);
	ta = kbs_ttlv_add_struct(pl, KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE);
	add_attr_name(ta, name);
	if (type == KBS_KMIP_OBJ_SYMMETRIC_KEY) {
		kbs_ttlv_add_int(add_attr(ta, "Cryptographic Usage Mask"),
				 KBS_KMIP_TAG_ATTRIBUTE_VALUE,
				 KMIP_USAGE_ENCRYPT_DECRYPT);
		obj = kbs_ttlv_add_struct(pl, KBS_KMIP_TAG_SYMMETRIC_KEY);
	} else {
		obj = kbs_ttlv_add_struct(pl, KBS_KMIP_TAG_SECRET_DATA);
		kbs_ttlv_add_enum(obj, KBS_KMIP_TAG_SECRET_DATA_TYPE,
				  KMIP_SECRET_PASSWORD);
	}
	add_key_block(obj, type, data, len);
	return req_finish(root, out, olen, eb);
}

/* Get and Destroy: a payload of just the Unique Identifier. */
static kbs_err
req_uid(kbs_kmip_op op, const char *uid, uint8_t **out, size_t *len,
	kbs_errbuf *eb)
{
	kbs_ttlv *root = NULL, *pl;
	kbs_err rc;

	if ((rc = check_text(uid, KBS_KMIP_MAX_UID, "unique identifier",
			     eb)) != KBS_OK)
		return rc;
	pl = req_begin(op, &root);
	kbs_ttlv_add_text(pl, KBS_KMIP_TAG_UNIQUE_IDENTIFIER, uid, strlen(uid));
	return req_finish(root, out, len, eb);
}

kbs_err
kbs_kmip_req_get(const char *uid, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	return req_uid(KBS_KMIP_OP_GET, uid, out, len, eb);
}

kbs_err
kbs_kmip_req_destroy(const char *uid, uint8_t **out, size_t *len,
		     kbs_errbuf *eb)
{
	return req_uid(KBS_KMIP_OP_DESTROY, uid, out, len, eb);
}

kbs_err
kbs_kmip_req_locate(const char *name, uint8_t **out, size_t *len,
		    kbs_errbuf *eb)
{
	kbs_ttlv *root = NULL, *pl;
	kbs_err rc;

	if ((rc = check_text(name, KBS_KMIP_MAX_NAME, "name", eb)) != KBS_OK)
		return rc;
	pl = req_begin(KBS_KMIP_OP_LOCATE, &root);
	kbs_ttlv_add_int(pl, KBS_KMIP_TAG_MAXIMUM_ITEMS, KBS_KMIP_MAX_LOCATE);
	add_attr_name(pl, name);
	return req_finish(root, out, len, eb);
}

/* ---- responses --------------------------------------------------------- */

/* The server's Result Message as printable ASCII, cut short. */
static void
safe_message(const kbs_ttlv *m, char *dst, size_t dstlen)
{
	const uint8_t *p;
	size_t n, i;

	dst[0] = '\0';
	if (kbs_ttlv_get_bytes(m, &p, &n) != KBS_OK ||
	    kbs_ttlv_get_type(m) != KBS_TTLV_TEXT_STRING)
		return;
	if (n > dstlen - 1)
		n = dstlen - 1;
	for (i = 0; i < n; i++)
		dst[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	dst[n] = '\0';
}

/* A non-Success Result Status as a kbs_err with detail. */
static kbs_err
status_err(kbs_kmip_op op, uint32_t status, const kbs_ttlv *bi,
	   kbs_errbuf *eb)
{
	char msg[KMIP_MSG_SHOWN + 1];
	uint32_t reason = 0;
	kbs_err e = KBS_ERR_NETWORK;

	kbs_ttlv_get_enum(kbs_ttlv_find(bi, KBS_KMIP_TAG_RESULT_REASON),
			  &reason);
	safe_message(kbs_ttlv_find(bi, KBS_KMIP_TAG_RESULT_MESSAGE), msg,
		     sizeof(msg));
	if (reason == KBS_KMIP_REASON_ITEM_NOT_FOUND)
		e = KBS_ERR_NOT_FOUND;
	else if (reason == KBS_KMIP_REASON_OBJECT_EXISTS)
		e = KBS_ERR_EXISTS;
	else if (reason == KBS_KMIP_REASON_RESPONSE_TOO_LARGE)
		e = KBS_ERR_TOO_LARGE;
	if (status != 1)
		return kbs_errf(eb, KBS_ERR_NETWORK, "KMIP %s: result status "
				"%u (not success)", op_name(op), status);
	return kbs_errf(eb, e, "KMIP %s failed: %s%s%s", op_name(op),
			reason_name(reason), msg[0] ? ": " : "", msg);
}

/* Header checks: Batch Count 1 and one Batch Item. */
static kbs_err
check_header(const kbs_ttlv *msg, kbs_errbuf *eb)
{
	const kbs_ttlv *hdr = kbs_ttlv_find(msg, KBS_KMIP_TAG_RESPONSE_HEADER);
	int32_t count = 0;

	if (kbs_ttlv_tag(msg) != KBS_KMIP_TAG_RESPONSE_MESSAGE ||
	    kbs_ttlv_get_type(msg) != KBS_TTLV_STRUCTURE ||
	    kbs_ttlv_get_type(hdr) != KBS_TTLV_STRUCTURE)
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"KMIP: not a response message");
	if (kbs_ttlv_get_int(kbs_ttlv_find(hdr, KBS_KMIP_TAG_BATCH_COUNT),
			     &count) != KBS_OK || count != 1 ||
	    kbs_ttlv_count_tag(msg, KBS_KMIP_TAG_BATCH_ITEM) != 1)
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"KMIP: response must have one batch item");
	return KBS_OK;
}

/* Operation echo (optional), Result Status, then the payload. */
static kbs_err
check_item(const kbs_ttlv *bi, kbs_kmip_op op, const kbs_ttlv **body,
	   kbs_errbuf *eb)
{
	const kbs_ttlv *o = kbs_ttlv_find(bi, KBS_KMIP_TAG_OPERATION);
	const kbs_ttlv *pl;
	uint32_t v;

	if (kbs_ttlv_get_type(bi) != KBS_TTLV_STRUCTURE)
		return kbs_errf(eb, KBS_ERR_NETWORK, "KMIP: bad batch item");
	if (o != NULL && (kbs_ttlv_get_enum(o, &v) != KBS_OK || v != op))
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"KMIP: response to another operation");
	if (kbs_ttlv_get_enum(kbs_ttlv_find(bi, KBS_KMIP_TAG_RESULT_STATUS),
			      &v) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_NETWORK, "KMIP: no result status");
	if (v != KBS_KMIP_STATUS_SUCCESS)
		return status_err(op, v, bi, eb);
	pl = kbs_ttlv_find(bi, KBS_KMIP_TAG_RESPONSE_PAYLOAD);
	if (pl != NULL && kbs_ttlv_get_type(pl) != KBS_TTLV_STRUCTURE)
		return kbs_errf(eb, KBS_ERR_NETWORK, "KMIP: bad payload");
	*body = pl;
	return KBS_OK;
}

kbs_err
kbs_kmip_resp_parse(const uint8_t *buf, size_t len, kbs_kmip_op op,
		    kbs_ttlv **msg, const kbs_ttlv **body, kbs_errbuf *eb)
{
	kbs_ttlv *m = NULL;
	const kbs_ttlv *pl = NULL;
	kbs_err rc;

	if (msg == NULL || body == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kmip: no output");
	if ((rc = kbs_ttlv_decode(buf, len, NULL, &m, eb)) != KBS_OK) {
		kbs_errprefix(eb, "KMIP %s response", op_name(op));
		return KBS_ERR_NETWORK;
	}
	if ((rc = check_header(m, eb)) != KBS_OK ||
	    (rc = check_item(kbs_ttlv_find(m, KBS_KMIP_TAG_BATCH_ITEM), op,
			     &pl, eb)) != KBS_OK) {
		kbs_ttlv_free(m);
		return rc;
	}
	*msg = m;
	*body = pl;
	return KBS_OK;
}

/* A Unique Identifier text node as a new bounded string. */
static kbs_err
uid_dup(const kbs_ttlv *t, char **uid, kbs_errbuf *eb)
{
	const uint8_t *p;
	size_t n;

	if (kbs_ttlv_get_type(t) != KBS_TTLV_TEXT_STRING ||
	    kbs_ttlv_get_bytes(t, &p, &n) != KBS_OK || n == 0 ||
	    n > KBS_KMIP_MAX_UID)
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"KMIP: missing or bad unique identifier");
	if ((*uid = kbs_strndup((const char *)p, n)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: identifier");
	return KBS_OK;
}

kbs_err
kbs_kmip_resp_uid(const uint8_t *buf, size_t len, kbs_kmip_op op, char **uid,
		  kbs_errbuf *eb)
{
	kbs_ttlv *msg = NULL;
	const kbs_ttlv *pl;
	kbs_err rc;

	if ((rc = kbs_kmip_resp_parse(buf, len, op, &msg, &pl, eb)) != KBS_OK)
		return rc;
	rc = uid_dup(kbs_ttlv_find(pl, KBS_KMIP_TAG_UNIQUE_IDENTIFIER), uid,
		     eb);
	kbs_ttlv_free(msg);
	return rc;
}

/* The Key Block of a Get answer's object, NULL if none we understand;
 * *type says which object held it. */
static const kbs_ttlv *
get_key_block(const kbs_ttlv *pl, kbs_kmip_objtype *type)
{
	const kbs_ttlv *obj = kbs_ttlv_find(pl, KBS_KMIP_TAG_SYMMETRIC_KEY);

	*type = KBS_KMIP_OBJ_SYMMETRIC_KEY;
	if (obj == NULL) {
		obj = kbs_ttlv_find(pl, KBS_KMIP_TAG_SECRET_DATA);
		*type = KBS_KMIP_OBJ_SECRET_DATA;
	}
	return kbs_ttlv_find(obj, KBS_KMIP_TAG_KEY_BLOCK);
}

kbs_err
kbs_kmip_resp_get_obj(const uint8_t *buf, size_t len, kbs_kmip_object *o,
		      kbs_errbuf *eb)
{
	const kbs_ttlv *pl, *kb, *mat;
	kbs_ttlv *msg = NULL;
	kbs_kmip_objtype type = KBS_KMIP_OBJ_SECRET_DATA;
	const uint8_t *p;
	uint32_t fmt = 0, alg = 0;
	size_t n;
	kbs_err rc;

	if ((rc = kbs_kmip_resp_parse(buf, len, KBS_KMIP_OP_GET, &msg, &pl,
				      eb)) != KBS_OK)
		return rc;
	rc = KBS_ERR_NETWORK;
	if ((kb = get_key_block(pl, &type)) == NULL) {
		kbs_errf(eb, rc, "KMIP Get: no symmetric key or secret data");
		goto out;
	}
	kbs_ttlv_get_enum(kbs_ttlv_find(kb, KBS_KMIP_TAG_KEY_FORMAT_TYPE), &fmt);
	kbs_ttlv_get_enum(kbs_ttlv_find(kb, KBS_KMIP_TAG_CRYPTO_ALGORITHM), &alg);
	mat = kbs_ttlv_find(kbs_ttlv_find(kb, KBS_KMIP_TAG_KEY_VALUE),
			    KBS_KMIP_TAG_KEY_MATERIAL);
	if ((fmt != KMIP_FORMAT_RAW && fmt != KMIP_FORMAT_OPAQUE) ||
	    kbs_ttlv_find(kb, KMIP_TAG_KEY_WRAPPING_DATA) != NULL ||
	    kbs_ttlv_get_type(mat) != KBS_TTLV_BYTE_STRING) {
		kbs_errf(eb, rc, "KMIP Get: key not in raw or opaque form");
		goto out;
	}
	kbs_ttlv_get_bytes(mat, &p, &n);
	if ((o->data = kbs_malloc(n)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "kmip: key");
		goto out;
	}
	if (n > 0)
		memcpy(o->data, p, n);
	o->len = n;
	o->type = type;
	o->algorithm = alg;
	rc = KBS_OK;
out:
	kbs_ttlv_free(msg);
	return rc;
}

kbs_err
kbs_kmip_resp_get(const uint8_t *buf, size_t len, uint8_t **out,
		  size_t *olen, kbs_errbuf *eb)
{
	kbs_kmip_object o = {KBS_KMIP_OBJ_SECRET_DATA, 0, NULL, 0};
	kbs_err rc;

	if ((rc = kbs_kmip_resp_get_obj(buf, len, &o, eb)) != KBS_OK)
		return rc;
	*out = o.data;
	*olen = o.len;
	return KBS_OK;
}

void
kbs_kmip_uids_free(char **uids, size_t n)
{
	size_t i;

	if (uids == NULL)
		return;
	for (i = 0; i < n; i++)
		free(uids[i]);
	free(uids);
}

/* Every Unique Identifier child of pl into a new array. */
static kbs_err
collect_uids(const kbs_ttlv *pl, char ***uids, size_t *n, kbs_errbuf *eb)
{
	size_t want = kbs_ttlv_count_tag(pl, KBS_KMIP_TAG_UNIQUE_IDENTIFIER);
	size_t i, k = 0;
	char **v;
	kbs_err rc = KBS_OK;

	if (want > KBS_KMIP_MAX_LOCATE)
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"KMIP Locate: more than %d objects",
				KBS_KMIP_MAX_LOCATE);
	if ((v = calloc(want + 1, sizeof(*v))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: locate");
	for (i = 0; i < kbs_ttlv_count(pl) && rc == KBS_OK; i++) {
		const kbs_ttlv *c = kbs_ttlv_child(pl, i);

		if (kbs_ttlv_tag(c) == KBS_KMIP_TAG_UNIQUE_IDENTIFIER)
			rc = uid_dup(c, &v[k++], eb);
	}
	if (rc != KBS_OK) {
		kbs_kmip_uids_free(v, k);
		return rc;
	}
	*uids = v;
	*n = want;
	return KBS_OK;
}

kbs_err
kbs_kmip_resp_locate(const uint8_t *buf, size_t len, char ***uids, size_t *n,
		     kbs_errbuf *eb)
{
	kbs_ttlv *msg = NULL;
	const kbs_ttlv *pl;
	kbs_err rc;

	if ((rc = kbs_kmip_resp_parse(buf, len, KBS_KMIP_OP_LOCATE, &msg, &pl,
				      eb)) != KBS_OK)
		return rc;
	rc = collect_uids(pl, uids, n, eb);
	kbs_ttlv_free(msg);
	return rc;
}

/* ---- operations -------------------------------------------------------- */

/* Round trip of a built request; the request is wiped and freed. */
static kbs_err
call(kbs_kmip_client *c, kbs_kmip_op op, uint8_t *req, size_t reqlen,
     uint8_t **resp, size_t *resplen, kbs_errbuf *eb)
{
	kbs_err rc = kbs_kmip_client_roundtrip(c, req, reqlen, resp, resplen,
					       eb);

	kbs_freezero(req, reqlen);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "KMIP %s", op_name(op));
	return rc;
}

/* Send req and read a Unique Identifier answer. */
static kbs_err
call_uid(kbs_kmip_client *c, kbs_kmip_op op, uint8_t *req, size_t reqlen,
	 char **uid, kbs_errbuf *eb)
{
	uint8_t *resp = NULL;
	size_t rlen = 0;
	kbs_err rc;

	if ((rc = call(c, op, req, reqlen, &resp, &rlen, eb)) != KBS_OK)
		return rc;
	rc = kbs_kmip_resp_uid(resp, rlen, op, uid, eb);
	kbs_freezero(resp, rlen);
	return rc;
}

kbs_err
kbs_kmip_create_aes256(kbs_kmip_client *c, const char *name, char **uid,
		       kbs_errbuf *eb)
{
	uint8_t *req = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = kbs_kmip_req_create_aes256(name, &req, &len, eb)) != KBS_OK)
		return rc;
	return call_uid(c, KBS_KMIP_OP_CREATE, req, len, uid, eb);
}

kbs_err
kbs_kmip_register(kbs_kmip_client *c, kbs_kmip_objtype type,
		  const char *name, const uint8_t *data, size_t len,
		  char **uid, kbs_errbuf *eb)
{
	uint8_t *req = NULL;
	size_t rlen = 0;
	kbs_err rc;

	if ((rc = kbs_kmip_req_register(type, name, data, len, &req, &rlen,
					eb)) != KBS_OK)
		return rc;
	return call_uid(c, KBS_KMIP_OP_REGISTER, req, rlen, uid, eb);
}

kbs_err
kbs_kmip_get_obj(kbs_kmip_client *c, const char *uid, kbs_kmip_object *o,
		 kbs_errbuf *eb)
{
	uint8_t *req = NULL, *resp = NULL;
	size_t qlen = 0, rlen = 0;
	kbs_err rc;

	if ((rc = kbs_kmip_req_get(uid, &req, &qlen, eb)) != KBS_OK ||
	    (rc = call(c, KBS_KMIP_OP_GET, req, qlen, &resp, &rlen, eb)) !=
		    KBS_OK)
		return rc;
	rc = kbs_kmip_resp_get_obj(resp, rlen, o, eb);
	kbs_freezero(resp, rlen);
	return rc;
}

kbs_err
kbs_kmip_get(kbs_kmip_client *c, const char *uid, uint8_t **out, size_t *len,
	     kbs_errbuf *eb)
{
	kbs_kmip_object o = {KBS_KMIP_OBJ_SECRET_DATA, 0, NULL, 0};
	kbs_err rc;

	if ((rc = kbs_kmip_get_obj(c, uid, &o, eb)) != KBS_OK)
		return rc;
	*out = o.data;
	*len = o.len;
	return KBS_OK;
}

kbs_err
kbs_kmip_destroy(kbs_kmip_client *c, const char *uid, kbs_errbuf *eb)
{
	uint8_t *req = NULL;
	size_t len = 0;
	char *got = NULL;
	kbs_err rc;

	if ((rc = kbs_kmip_req_destroy(uid, &req, &len, eb)) != KBS_OK ||
	    (rc = call_uid(c, KBS_KMIP_OP_DESTROY, req, len, &got, eb)) !=
		    KBS_OK)
		return rc;
	free(got);
	return KBS_OK;
}

kbs_err
kbs_kmip_locate(kbs_kmip_client *c, const char *name, char ***uids,
		size_t *n, kbs_errbuf *eb)
{
	uint8_t *req = NULL, *resp = NULL;
	size_t qlen = 0, rlen = 0;
	kbs_err rc;

	if ((rc = kbs_kmip_req_locate(name, &req, &qlen, eb)) != KBS_OK ||
	    (rc = call(c, KBS_KMIP_OP_LOCATE, req, qlen, &resp, &rlen, eb)) !=
		    KBS_OK)
		return rc;
	rc = kbs_kmip_resp_locate(resp, rlen, uids, n, eb);
	kbs_freezero(resp, rlen);
	return rc;
}
