/*
 * client.h - the pieces of kbs-client, one file each: http.c (httpc.h),
 * keys.c (TEE and admin keys), attest.c (the RCAR handshake), resource.c
 * (fetch and decrypt), admin.c (admin token and calls).  main.c parses
 * the command line and maps a kbs_err to an exit code (cli.h).
 *
 * Error convention: every function returns a kbs_err with detail in a
 * kbs_errbuf.  KBS_ERR_DENIED means the server answered with an error
 * status (detail "server refused (HTTP <status> <Variant>): <detail>"),
 * KBS_ERR_NETWORK a transport failure or a response that is not what the
 * protocol promises; anything else is local (keys, files, decryption).
 */
#ifndef KBS_CLIENT_H
#define KBS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "httpc.h"

/* ---- http.c: one httpc client per command (its cookie jar keeps the
 * session cookie) */

/*
 * Response bodies above this are refused while they arrive.  A JWE of the
 * largest resource the broker serves (1 MiB, KBS_JWE_MAX_PLAINTEXT) is
 * about 1.4 MiB of base64url, so the bound leaves room for that and no
 * more.
 */
#define CLIENT_HTTP_MAX_BODY (2 * 1024 * 1024)

typedef struct client_http client_http;

typedef struct {
	const char *cacert; /* CA bundle for https, NULL = system default */
	long timeout;       /* seconds, total and connect */
	int verbose;        /* request lines and statuses to stderr */
	int allow_insecure_http; /* --insecure-http: http:// URLs (tests only) */
} client_http_opts;

typedef struct {
	long status;
	char *body; /* NUL-terminated; may hold a token or JWE: wiped on free */
	size_t len;
} client_http_resp;

/* New handle with the cookie engine on.  *out owned by the caller. */
kbs_err client_http_new(const client_http_opts *o, client_http **out,
			kbs_errbuf *eb);

/* Release; NULL is a no-op. */
void client_http_free(client_http *h);

/*
 * One request: method "GET", "POST" or "DELETE" to base (a server URL, a
 * trailing '/' is ignored) followed by path (starting with '/').  bearer
 * (may be NULL) becomes "Authorization: Bearer"; body/len/ctype are sent
 * with POST.  Session cookies set by earlier calls on h are sent back.
 * On a 2xx status returns KBS_OK and fills *resp (release with
 * client_http_resp_free); any other status is KBS_ERR_DENIED with the
 * server's error type and detail in eb.
 */
kbs_err client_http_call(client_http *h, const char *method, const char *base,
			 const char *path, const char *bearer,
			 const char *ctype, const void *body, size_t len,
			 client_http_resp *resp, kbs_errbuf *eb);

/*
 * One raw request on h (for callers with their own headers and status
 * handling: the Intel API): kbs_httpc_request() with --verbose logging;
 * a refused http:// URL names --insecure-http, an oversized response is
 * KBS_ERR_NETWORK.  *resp as kbs_httpc_request().
 */
kbs_err client_http_request(client_http *h, const kbs_httpc_req *req,
			    kbs_httpc_resp *resp, kbs_errbuf *eb);

/*
 * 1 if the last kbs-session-id cookie the server set was larger than the
 * 4096 bytes libcurl's cookie engine keeps (it drops such cookies without
 * a word), so the session cannot be continued on h.
 */
int client_http_cookie_dropped(const client_http *h);

/* Wipe and free the body; zero *r.  NULL is a no-op. */
void client_http_resp_free(client_http_resp *r);

/*
 * Pure: describe a non-2xx reply.  body is the server's error document
 * {"type": ".../errors/<Variant>", "detail": "..."} or anything else;
 * writes "server refused (HTTP <status>[ <Variant>])[: <detail>]" into eb
 * with control characters replaced, and returns KBS_ERR_DENIED.
 */
kbs_err client_http_refusal(long status, const char *body, size_t len,
			    kbs_errbuf *eb);

/* ---- keys.c */

typedef enum { CLIENT_KEY_EC, CLIENT_KEY_RSA } client_key_type;

/* Ephemeral TEE key: EC P-256 or RSA 3072.  *out owned by the caller. */
kbs_err client_key_generate(client_key_type t, EVP_PKEY **out, kbs_errbuf *eb);

/*
 * The JWE alg a TEE key is advertised with: "ECDH-ES+A256KW" for EC
 * P-256/P-521, "RSA-OAEP-256" for RSA; NULL for any other key.
 */
const char *client_key_tee_alg(EVP_PKEY *pkey);

/*
 * The tee-pubkey JWK of pkey in the strict protocol form (spec 1.3, only
 * the members the binding hashes).  New reference in *out.
 */
kbs_err client_key_teekey_json(EVP_PKEY *pkey, json_t **out, kbs_errbuf *eb);

/* Read a PEM private key file (at most 64 KiB); the file buffer is wiped. */
kbs_err client_key_read_pem(const char *path, EVP_PKEY **out, kbs_errbuf *eb);

/* Write pkey as PKCS#8 PEM to path, atomically, mode 0600. */
kbs_err client_key_write_pem(EVP_PKEY *pkey, const char *path, kbs_errbuf *eb);

/* ---- attest.c */

/*
 * RCAR handshake with the sample TEE against the issuer at url on h:
 * /auth, then /attest with evidence bound to tee_key and the nonce.
 * initdata (may be NULL) is a TOML document sent as init-data;
 * sample_device adds sample device evidence (additional_evidence).  On
 * success *token is the malloc'd attestation token (release with
 * kbs_strfreezero); h then also holds the attested session cookie.
 */
kbs_err client_attest(client_http *h, const char *url, EVP_PKEY *tee_key,
		      const char *initdata, int sample_device, char **token,
		      kbs_errbuf *eb);

/*
 * Pure: the /attest request body for the sample TEE (spec 1.3, 2.1, 2.3).
 * teekey is the strict tee-pubkey JWK, nonce the challenge nonce,
 * initdata may be NULL.  With sample_device, additional_evidence is
 * {"sampledevice": {"svn": "2", "report_data": <device digest>}} as
 * guest-components' sample device attester writes it (serde_json text,
 * members in struct order), and the primary evidence is bound to that
 * string.  malloc'd compact JSON in *out.
 */
kbs_err client_attest_body(const json_t *teekey, const char *nonce,
			   const char *initdata, int sample_device, char **out,
			   kbs_errbuf *eb);

/*
 * Pure: the nonce of a /auth challenge body.  Refuses a challenge that
 * selects a hash algorithm other than sha384 (the sample TEE's).  *nonce
 * malloc'd.
 */
kbs_err client_attest_parse_challenge(const char *body, size_t len,
				      char **nonce, kbs_errbuf *eb);

/* ---- resource.c */

/*
 * Pure: 1 if path is <repository>/<type>/<tag>, each segment
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* (spec 3), at most 1024 bytes.
 */
int client_resource_path_ok(const char *path);

/*
 * GET /kbs/v0/resource/<path> from url, with bearer (NULL: rely on the
 * session cookie h holds), and decrypt the JWE with tee_key, pinning the
 * alg the key was advertised with.  On success *pt / *ptlen is the
 * plaintext; release with kbs_freezero(*pt, *ptlen).
 */
kbs_err client_resource_get(client_http *h, const char *url, const char *path,
			    const char *bearer, EVP_PKEY *tee_key,
			    uint8_t **pt, size_t *ptlen, kbs_errbuf *eb);

/* ---- admin.c */

/*
 * Sign an admin JWT with priv: EdDSA for Ed25519, ES256/384/512 for EC
 * P-256/384/521, RS256 for RSA; claims iat, exp = iat + 300, sub
 * "kbs-client", role.  *out malloc'd (release with kbs_strfreezero).
 */
kbs_err client_admin_token(EVP_PKEY *priv, const char *role, long long now,
			   char **out, kbs_errbuf *eb);

/* POST raw bytes to /kbs/v0/resource/<path>. */
kbs_err client_admin_set_resource(client_http *h, const char *url,
				  const char *token, const char *path,
				  const uint8_t *data, size_t len,
				  kbs_errbuf *eb);

/* DELETE /kbs/v0/resource/<path>. */
kbs_err client_admin_delete_resource(client_http *h, const char *url,
				     const char *token, const char *path,
				     kbs_errbuf *eb);

/* POST /kbs/v0/resource-policy {"policy": base64url(policy)}. */
kbs_err client_admin_set_policy(client_http *h, const char *url,
				const char *token, const uint8_t *policy,
				size_t len, kbs_errbuf *eb);

/*
 * GET /kbs/v0/resource-policy and decode its "policy" member.  *out /
 * *outlen malloc'd (NUL-terminated, not counted).
 */
kbs_err client_admin_get_policy(client_http *h, const char *url,
				const char *token, uint8_t **out,
				size_t *outlen, kbs_errbuf *eb);

#endif
