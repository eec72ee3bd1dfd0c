/*
 * kmip.h - a small KMIP 1.x client: messages (kmip.c) and the mutual-TLS
 * connection pool (kmip_conn.c).
 *
 * Only what the KMIP resource store needs: Create (AES-256 symmetric
 * key), Register (Secret Data or Symmetric Key), Get, Destroy and Locate
 * by Name.  Requests speak KMIP 1.2 by default (what PyKMIP, kmip-go and
 * most appliances accept; KMIP 2.0 servers answer 1.x requests in 1.x).
 *
 * The message functions are pure: they build request bytes from
 * arguments and parse response bytes into results, with no I/O, so that
 * they are unit-tested and fuzzed without a server.  A result status other
 * than Success becomes a kbs_err: Item Not Found is KBS_ERR_NOT_FOUND,
 * Object Already Exists KBS_ERR_EXISTS, everything else (permission,
 * malformed, server failure) KBS_ERR_NETWORK, because to the broker it is
 * a remote service that failed, not a client mistake.  The detail names
 * the operation, the reason and the server's message (printable ASCII,
 * truncated); never any key material.
 */
#ifndef KBS_KMIP_H
#define KBS_KMIP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "keyproc.h"
#include "ttlv.h"

/* Tags (KMIP 1.x section 9.1.3.1) used here. */
enum {
	KBS_KMIP_TAG_ATTRIBUTE = 0x420008,
	KBS_KMIP_TAG_ATTRIBUTE_NAME = 0x42000A,
	KBS_KMIP_TAG_ATTRIBUTE_VALUE = 0x42000B,
	KBS_KMIP_TAG_BATCH_COUNT = 0x42000D,
	KBS_KMIP_TAG_BATCH_ITEM = 0x42000F,
	KBS_KMIP_TAG_CRYPTO_ALGORITHM = 0x420028,
	KBS_KMIP_TAG_CRYPTO_LENGTH = 0x42002A,
	KBS_KMIP_TAG_CRYPTO_USAGE_MASK = 0x42002C,
	KBS_KMIP_TAG_KEY_BLOCK = 0x420040,
	KBS_KMIP_TAG_KEY_FORMAT_TYPE = 0x420042,
	KBS_KMIP_TAG_KEY_MATERIAL = 0x420043,
	KBS_KMIP_TAG_KEY_VALUE = 0x420045,
	KBS_KMIP_TAG_MAXIMUM_ITEMS = 0x42004F,
	KBS_KMIP_TAG_MAXIMUM_RESPONSE_SIZE = 0x420050,
	KBS_KMIP_TAG_NAME = 0x420053,
	KBS_KMIP_TAG_NAME_TYPE = 0x420054,
	KBS_KMIP_TAG_NAME_VALUE = 0x420055,
	KBS_KMIP_TAG_OBJECT_TYPE = 0x420057,
	KBS_KMIP_TAG_OPERATION = 0x42005C,
	KBS_KMIP_TAG_PROTOCOL_VERSION = 0x420069,
	KBS_KMIP_TAG_PROTOCOL_VERSION_MAJOR = 0x42006A,
	KBS_KMIP_TAG_PROTOCOL_VERSION_MINOR = 0x42006B,
	KBS_KMIP_TAG_REQUEST_HEADER = 0x420077,
	KBS_KMIP_TAG_REQUEST_MESSAGE = 0x420078,
	KBS_KMIP_TAG_REQUEST_PAYLOAD = 0x420079,
	KBS_KMIP_TAG_RESPONSE_HEADER = 0x42007A,
	KBS_KMIP_TAG_RESPONSE_MESSAGE = 0x42007B,
	KBS_KMIP_TAG_RESPONSE_PAYLOAD = 0x42007C,
	KBS_KMIP_TAG_RESULT_MESSAGE = 0x42007D,
	KBS_KMIP_TAG_RESULT_REASON = 0x42007E,
	KBS_KMIP_TAG_RESULT_STATUS = 0x42007F,
	KBS_KMIP_TAG_SECRET_DATA = 0x420085,
	KBS_KMIP_TAG_SECRET_DATA_TYPE = 0x420086,
	KBS_KMIP_TAG_SYMMETRIC_KEY = 0x42008F,
	KBS_KMIP_TAG_TEMPLATE_ATTRIBUTE = 0x420091,
	KBS_KMIP_TAG_TIME_STAMP = 0x420092,
	KBS_KMIP_TAG_UNIQUE_IDENTIFIER = 0x420094,
};

typedef enum {
	KBS_KMIP_OP_CREATE = 0x01,
	KBS_KMIP_OP_REGISTER = 0x03,
	KBS_KMIP_OP_LOCATE = 0x08,
	KBS_KMIP_OP_GET = 0x0A,
	KBS_KMIP_OP_DESTROY = 0x14,
} kbs_kmip_op;

typedef enum {
	KBS_KMIP_OBJ_SYMMETRIC_KEY = 0x02,
	KBS_KMIP_OBJ_SECRET_DATA = 0x07,
} kbs_kmip_objtype;

/* Result Status and the Result Reasons mapped specially. */
enum {
	KBS_KMIP_STATUS_SUCCESS = 0,
	KBS_KMIP_REASON_ITEM_NOT_FOUND = 0x01,
	KBS_KMIP_REASON_RESPONSE_TOO_LARGE = 0x02,
	KBS_KMIP_REASON_OBJECT_EXISTS = 0x18,
};

/* Bounds on what a response may carry. */
#define KBS_KMIP_MAX_UID 256         /* Unique Identifier bytes */
#define KBS_KMIP_MAX_LOCATE 64       /* identifiers per Locate answer */
#define KBS_KMIP_MAX_NAME 512        /* Name attribute bytes */

/* ---- request messages (pure) ------------------------------------------ */

/*
 * Each builder writes one complete Request Message (protocol 1.2, batch
 * count 1) to *out (malloc'd, *len bytes; a Register request holds the
 * secret, so release every request with kbs_freezero(*out, *len)).
 * KBS_ERR_INVALID for empty or oversized names/identifiers, KBS_ERR_NOMEM.
 */

/* Create an AES-256 Symmetric Key, usage Encrypt|Decrypt, named name. */
kbs_err kbs_kmip_req_create_aes256(const char *name, uint8_t **out,
				   size_t *len, kbs_errbuf *eb);
/*
 * Register data named name: as Secret Data (Secret Data Type Password, key
 * format Opaque; any bytes, also none) or as a Symmetric Key (AES, key
 * format Raw; len must be 16, 24 or 32).
 */
kbs_err kbs_kmip_req_register(kbs_kmip_objtype type, const char *name,
			      const uint8_t *data, size_t len, uint8_t **out,
			      size_t *olen, kbs_errbuf *eb);
kbs_err kbs_kmip_req_get(const char *uid, uint8_t **out, size_t *len,
			 kbs_errbuf *eb);
kbs_err kbs_kmip_req_destroy(const char *uid, uint8_t **out, size_t *len,
			     kbs_errbuf *eb);
/* Locate objects whose Name attribute is name (text string). */
kbs_err kbs_kmip_req_locate(const char *name, uint8_t **out, size_t *len,
			    kbs_errbuf *eb);

/* ---- response messages (pure) ----------------------------------------- */

/*
 * Parse a Response Message to operation op: one batch item whose status
 * is Success (else the mapped error above).  *msg is a new tree (the
 * whole message; release with kbs_ttlv_free) and *body points inside it
 * at the Response Payload (NULL when the server sent none).  Undecodable
 * or misshapen responses are KBS_ERR_NETWORK.
 */
kbs_err kbs_kmip_resp_parse(const uint8_t *buf, size_t len, kbs_kmip_op op,
			    kbs_ttlv **msg, const kbs_ttlv **body,
			    kbs_errbuf *eb);

/* Create/Register/Destroy answer: the Unique Identifier (malloc'd). */
kbs_err kbs_kmip_resp_uid(const uint8_t *buf, size_t len, kbs_kmip_op op,
			  char **uid, kbs_errbuf *eb);

/*
 * Get answer: the Key Material bytes of a Symmetric Key or Secret Data in
 * key format Raw or Opaque (wrapped keys and other formats are refused).
 * *out is malloc'd; release with kbs_freezero(*out, *olen).
 */
kbs_err kbs_kmip_resp_get(const uint8_t *buf, size_t len, uint8_t **out,
			  size_t *olen, kbs_errbuf *eb);

/* What a Get answered: the object's kind and, for a key, its
 * Cryptographic Algorithm (0 when the server sent none), so that a caller
 * needing a particular key can refuse anything else. */
#define KBS_KMIP_ALG_AES 0x03
typedef struct kbs_kmip_object {
	kbs_kmip_objtype type;
	uint32_t algorithm;
	uint8_t *data; /* malloc'd; release with kbs_freezero(data, len) */
	size_t len;
} kbs_kmip_object;

/* kbs_kmip_resp_get() with the object's type and algorithm; *o is
 * written only on success. */
kbs_err kbs_kmip_resp_get_obj(const uint8_t *buf, size_t len,
			      kbs_kmip_object *o, kbs_errbuf *eb);

/*
 * Locate answer: *uids is a malloc'd array of *n malloc'd strings (may be
 * n == 0); free with kbs_kmip_uids_free().
 */
kbs_err kbs_kmip_resp_locate(const uint8_t *buf, size_t len, char ***uids,
			     size_t *n, kbs_errbuf *eb);
void kbs_kmip_uids_free(char **uids, size_t n);

/* ---- connections (kmip_conn.c) ---------------------------------------- */

typedef struct kbs_kmip_conn_config {
	const char *host;        /* name or IP literal to connect to */
	unsigned port;           /* default 5696 when 0 */
	const char *server_name; /* checked in the server cert; default host */
	const char *ca_file;     /* CA(s) that issued the server cert */
	const char *cert_file;   /* client certificate (chain) PEM */
	const char *key_file;    /* client private key PEM */
	int timeout_ms;          /* connect, handshake, each read/write;
				    default 5000 */
	unsigned pool_size;      /* idle connections kept; default 4 */
	size_t max_response;     /* default 2 MiB + 64 KiB */
	/* Where key_file goes: a key process started with these options
	 * (tlsserver.h), so that this process never reads it; NULL: read
	 * here (keyproc.in_process, inside a key process, tests). */
	const kbs_keyproc_cfg *keyproc;
} kbs_kmip_conn_config;

typedef struct kbs_kmip_client kbs_kmip_client;

/*
 * Load the TLS material (CA, client cert and key must exist and match)
 * and make a client; no connection is made yet, so a server that is down
 * at start-up does not stop the broker.  The strings are copied.
 * KBS_ERR_CONFIG for missing or unusable settings or files.
 */
kbs_err kbs_kmip_client_new(const kbs_kmip_conn_config *cfg,
			    kbs_kmip_client **out, kbs_errbuf *eb);

/*
 * Send one request and read one response (a whole TTLV item of at most
 * max_response bytes), on a pooled connection or a new one.  A pooled
 * connection the server has closed meanwhile is detected and replaced;
 * a failure on a reused connection before any response byte arrived is
 * retried once on a fresh one.  Thread-safe.  *resp is malloc'd (release
 * with kbs_freezero: it may hold a key).  KBS_ERR_NETWORK on connect,
 * TLS, timeout or framing failure.
 */
kbs_err kbs_kmip_client_roundtrip(kbs_kmip_client *c, const uint8_t *req,
				  size_t reqlen, uint8_t **resp,
				  size_t *resplen, kbs_errbuf *eb);

/*
 * Fill *cfg from a JSON object's members "host", "port", "server_name",
 * "ca_file", "cert_file", "key_file", "timeout_ms", "pool_size" (strings
 * borrowed from obj).  Any other member is refused unless named in extra
 * (NULL-terminated, may be NULL).  what names the object in errors.
 * KBS_ERR_CONFIG; *cfg written only on success.  No file is read here.
 */
struct json_t;
kbs_err kbs_kmip_conn_from_json(const struct json_t *obj,
				const char *const *extra, const char *what,
				kbs_kmip_conn_config *cfg, kbs_errbuf *eb);

/* Close the pooled connections and free c.  NULL is a no-op. */
void kbs_kmip_client_free(kbs_kmip_client *c);

/* ---- operations (request + round trip + parse) ------------------------ */

/* The new object's Unique Identifier in *uid (malloc'd). */
kbs_err kbs_kmip_create_aes256(kbs_kmip_client *c, const char *name,
			       char **uid, kbs_errbuf *eb);
kbs_err kbs_kmip_register(kbs_kmip_client *c, kbs_kmip_objtype type,
			  const char *name, const uint8_t *data, size_t len,
			  char **uid, kbs_errbuf *eb);
/* See kbs_kmip_resp_get_obj() for *o. */
kbs_err kbs_kmip_get_obj(kbs_kmip_client *c, const char *uid,
			 kbs_kmip_object *o, kbs_errbuf *eb);
/* *out malloc'd; release with kbs_freezero(*out, *len). */
kbs_err kbs_kmip_get(kbs_kmip_client *c, const char *uid, uint8_t **out,
		     size_t *len, kbs_errbuf *eb);
kbs_err kbs_kmip_destroy(kbs_kmip_client *c, const char *uid,
			 kbs_errbuf *eb);
/* See kbs_kmip_resp_locate() for *uids. */
kbs_err kbs_kmip_locate(kbs_kmip_client *c, const char *name, char ***uids,
			size_t *n, kbs_errbuf *eb);

#endif
