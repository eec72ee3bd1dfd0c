/*
 * jwe.c - flattened JWE with A256GCM and RSA-OAEP-256, RSA1_5 or
 * ECDH-ES+A256KW, on OpenSSL EVP (shared/notes/dependencies.md, "JWE").
 *
 * The decrypt side checks everything before it touches the key: only the
 * five flattened members, a bounded protected header with enc A256GCM, no
 * zip and no crit, an alg that matches the private key's type, fixed IV
 * and tag sizes.  Any failure to recover the CEK or to verify the tag is
 * the same KBS_ERR_VERIFY, so a caller cannot serve as a padding oracle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "aead.h"
#include "algs.h"
#include "b64.h"
#include "json.h"
#include "jwe.h"
#include "jwk.h"
#include "mem.h"

#define JWE_CEK_LEN 32
#define JWE_IV_LEN 12
#define JWE_TAG_LEN 16
#define JWE_KW_LEN (JWE_CEK_LEN + 8) /* RFC 3394 adds one 64-bit block */
#define JWE_MAX_COORD 66
#define JWE_MAX_Z 66
#define JWE_MAX_PROTECTED 4096
#define JWE_MAX_EK 2048 /* RSA-16384 */
#define JWE_MIN_RSA_BITS 2048
/* Base64url of the largest plaintext plus generous room for the rest. */
#define JWE_MAX_JSON (KBS_JWE_MAX_PLAINTEXT / 3 * 4 + 65536)
#define JWE_ENC "A256GCM"

typedef enum {
	JWE_RSA_OAEP_256,
	JWE_RSA1_5,
	JWE_ECDH_ES_A256KW,
} jwe_alg;

static const struct {
	const char *name;
	jwe_alg alg;
} jwe_algs[] = {
	{"RSA-OAEP-256", JWE_RSA_OAEP_256},
	{"RSA1_5", JWE_RSA1_5},
	{"ECDH-ES+A256KW", JWE_ECDH_ES_A256KW},
};

typedef struct {
	const char *crv;   /* JWK name */
	const char *group; /* OpenSSL group name */
	int nid;
	size_t coord;      /* bytes per coordinate */
} jwe_curve;

static const jwe_curve jwe_curves[] = {
	{"P-256", "prime256v1", NID_X9_62_prime256v1, 32},
	{"P-384", "secp384r1", NID_secp384r1, 48},
	{"P-521", "secp521r1", NID_secp521r1, 66},
};

static int
jwe_alg_lookup(const char *name, jwe_alg *out)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(jwe_algs) / sizeof(jwe_algs[0]);
	     i++)
		if (strcmp(jwe_algs[i].name, name) == 0) {
			*out = jwe_algs[i].alg;
			return 1;
		}
	return 0;
}

static const char *
jwe_alg_name(jwe_alg alg)
{
	size_t i;

	for (i = 0; i < sizeof(jwe_algs) / sizeof(jwe_algs[0]); i++)
		if (jwe_algs[i].alg == alg)
			return jwe_algs[i].name;
	return "?";
}

/* The supported curve of an EC key, or NULL. */
static const jwe_curve *
jwe_curve_of(EVP_PKEY *k)
{
	char name[64];
	size_t i;
	int nid;

	if (!EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name,
					   sizeof(name), NULL) != 1)
		return NULL;
	if ((nid = OBJ_sn2nid(name)) == NID_undef)
		nid = EC_curve_nist2nid(name);
	for (i = 0; i < sizeof(jwe_curves) / sizeof(jwe_curves[0]); i++)
		if (jwe_curves[i].nid == nid)
			return &jwe_curves[i];
	return NULL;
}

/*
 * The supported curve of a JWK's "crv", or NULL: a kbs_jwk's crv names
 * its key's curve (it was made from it), so no provider query is needed.
 */
static const jwe_curve *
jwe_curve_named(const char *crv)
{
	size_t i;

	for (i = 0; i < sizeof(jwe_curves) / sizeof(jwe_curves[0]); i++)
		if (strcmp(jwe_curves[i].crv, crv) == 0)
			return &jwe_curves[i];
	return NULL;
}

static void
be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* Hash one length-prefixed Concat KDF field (RFC 7518 4.6.2). */
static int
kdf_field(EVP_MD_CTX *md, const uint8_t *p, size_t n)
{
	uint8_t l[4];

	be32(l, (uint32_t)n);
	return EVP_DigestUpdate(md, l, 4) == 1 &&
	       (n == 0 || EVP_DigestUpdate(md, p, n) == 1);
}

kbs_err
kbs_jwe_concat_kdf(const uint8_t *z, size_t zlen, const char *algid,
		   const uint8_t *apu, size_t apulen, const uint8_t *apv,
		   size_t apvlen, uint8_t *out, size_t outlen)
{
	uint8_t dig[32], ctr[4], bits[4];
	EVP_MD_CTX *md = NULL;
	kbs_err rc = KBS_ERR_CRYPTO;
	size_t done = 0, n;
	uint32_t i;

	if (z == NULL || algid == NULL || out == NULL || outlen == 0 ||
	    outlen > 1024 || zlen > 1024 || apulen > 1024 || apvlen > 1024)
		return KBS_ERR_INVALID;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return KBS_ERR_NOMEM;
	be32(bits, (uint32_t)(outlen * 8));
	for (i = 1; done < outlen; i++) {
		be32(ctr, i);
		if (EVP_DigestInit_ex(md, kbs_alg_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, ctr, 4) != 1 ||
		    EVP_DigestUpdate(md, z, zlen) != 1 ||
		    !kdf_field(md, (const uint8_t *)algid, strlen(algid)) ||
		    !kdf_field(md, apu, apulen) || !kdf_field(md, apv, apvlen) ||
		    EVP_DigestUpdate(md, bits, 4) != 1 ||
		    EVP_DigestFinal_ex(md, dig, NULL) != 1)
			goto out;
		n = outlen - done < sizeof(dig) ? outlen - done : sizeof(dig);
		memcpy(out + done, dig, n);
		done += n;
	}
	rc = KBS_OK;
out:
	if (rc != KBS_OK)
		OPENSSL_cleanse(out, outlen);
	OPENSSL_cleanse(dig, sizeof(dig));
	EVP_MD_CTX_free(md);
	return rc;
}

/* RFC 3394 AES-256 key wrap (enc=1) or unwrap; output length or -1. */
static int
jwe_aeskw(int enc, const uint8_t kek[32], const uint8_t *in, size_t inlen,
	  uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, r = -1;

	if (c == NULL)
		return -1;
	/* OpenSSL refuses the wrap modes in EVP_Cipher* without this flag. */
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(c, kbs_alg_aes256wrap(), NULL, kek, NULL, enc) == 1 &&
	    EVP_CipherUpdate(c, out, &n, in, (int)inlen) == 1 && n > 0 &&
	    EVP_CipherFinal_ex(c, out + n, &m) == 1)
		r = n + m;
	EVP_CIPHER_CTX_free(c);
	return r;
}

/* An RSA operation context with the padding of alg. */
static EVP_PKEY_CTX *
jwe_rsa_ctx(EVP_PKEY *k, jwe_alg alg, int enc)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	int ok;

	if (c == NULL)
		return NULL;
	ok = (enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) == 1;
	if (ok && alg == JWE_RSA_OAEP_256)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1;
	else if (ok)
		ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
	if (!ok) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

/* encrypted_key = RSA(cek). */
static kbs_err
jwe_rsa_wrap(EVP_PKEY *pub, jwe_alg alg, const uint8_t *cek, uint8_t **ek,
	     size_t *eklen, kbs_errbuf *eb)
{
	EVP_PKEY_CTX *c = jwe_rsa_ctx(pub, alg, 1);
	kbs_err rc = KBS_ERR_CRYPTO;
	size_t n = 0;
	uint8_t *buf = NULL;

	if (c == NULL ||
	    EVP_PKEY_encrypt(c, NULL, &n, cek, JWE_CEK_LEN) != 1 ||
	    n > JWE_MAX_EK || (buf = malloc(n)) == NULL ||
	    EVP_PKEY_encrypt(c, buf, &n, cek, JWE_CEK_LEN) != 1) {
		kbs_errf(eb, rc, "JWE: RSA key encryption failed");
		free(buf);
		goto out;
	}
	*ek = buf;
	*eklen = n;
	rc = KBS_OK;
out:
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return rc;
}

/* KEK = Concat KDF(ECDH(mine, peer)) for ECDH-ES+A256KW. */
/*
 * ECDH(mine, peer) through the Concat KDF into kek.  validate: check that
 * peer is a valid point first; a kbs_jwk's point was checked when the key
 * was built (jwk.h), and checking it again costs a scalar multiplication.
 */
static kbs_err
jwe_ecdh_kek(EVP_PKEY *mine, EVP_PKEY *peer, int validate, uint8_t kek[32],
	     kbs_errbuf *eb)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
	uint8_t z[JWE_MAX_Z];
	size_t zlen = sizeof(z);
	kbs_err rc = KBS_ERR_CRYPTO;

	if (c == NULL || EVP_PKEY_derive_init(c) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(c, peer, validate) != 1 ||
	    EVP_PKEY_derive(c, z, &zlen) != 1) {
		kbs_errf(eb, rc, "JWE: ECDH failed");
		goto out;
	}
	rc = kbs_jwe_concat_kdf(z, zlen, "ECDH-ES+A256KW", NULL, 0, NULL, 0,
				kek, 32);
	if (rc != KBS_OK)
		kbs_errf(eb, rc, "JWE: Concat KDF failed");
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return rc;
}

/* "epk" member for the protected header: {"crv","kty","x","y"}. */
static json_t *
jwe_epk_json(EVP_PKEY *eph, const jwe_curve *cv)
{
	uint8_t pt[1 + 2 * JWE_MAX_COORD];
	size_t len = 0;
	char *x = NULL, *y = NULL;
	json_t *j = NULL;

	if (EVP_PKEY_get_octet_string_param(eph,
					    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    pt, sizeof(pt), &len) != 1 ||
	    len != 1 + 2 * cv->coord || pt[0] != 0x04)
		return NULL;
	x = kbs_b64_encode(pt + 1, cv->coord, KBS_B64_URL);
	y = kbs_b64_encode(pt + 1 + cv->coord, cv->coord, KBS_B64_URL);
	if (x != NULL && y != NULL)
		j = json_pack("{s:s, s:s, s:s, s:s}", "crv", cv->crv, "kty", "EC",
			      "x", x, "y", y);
	free(x);
	free(y);
	return j;
}

/* A fresh key pair on cv, its group copied from kbs_jwk_ec_params(). */
static EVP_PKEY *
ephemeral_key(const jwe_curve *cv)
{
	EVP_PKEY *params = kbs_jwk_ec_params(cv->group), *k = NULL;
	EVP_PKEY_CTX *c;

	if (params == NULL)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", cv->group);
	if ((c = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	EVP_PKEY_CTX_free(c);
	return k;
}

/* Ephemeral key on the recipient's curve, KEK, wrapped CEK, "epk". */
static kbs_err
jwe_ecdh_wrap(EVP_PKEY *pub, const jwe_curve *cv, int checked,
	      const uint8_t *cek, json_t *hdr, uint8_t **ek, size_t *eklen,
	      kbs_errbuf *eb)
{
	EVP_PKEY *eph = NULL;
	uint8_t kek[32], *buf = NULL;
	json_t *epk = NULL;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (cv == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "JWE: unsupported curve");
	if ((eph = ephemeral_key(cv)) == NULL) {
		kbs_errf(eb, rc, "JWE: ephemeral key generation failed");
		goto out;
	}
	if ((rc = jwe_ecdh_kek(eph, pub, !checked, kek, eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_CRYPTO;
	if ((epk = jwe_epk_json(eph, cv)) == NULL ||
	    json_object_set_new(hdr, "epk", epk) != 0) {
		kbs_errf(eb, rc, "JWE: cannot encode epk");
		goto out;
	}
	if ((buf = malloc(JWE_KW_LEN)) == NULL ||
	    jwe_aeskw(1, kek, cek, JWE_CEK_LEN, buf) != JWE_KW_LEN) {
		kbs_errf(eb, rc, "JWE: AES key wrap failed");
		free(buf);
		goto out;
	}
	*ek = buf;
	*eklen = JWE_KW_LEN;
	rc = KBS_OK;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_PKEY_free(eph);
	ERR_clear_error();
	return rc;
}

/*
 * alg must be supported, allowed, and fit the key type and size; for an
 * EC key *cv is its curve, found from crv (a kbs_jwk's) or from k.
 */
static kbs_err
jwe_check_key_alg(EVP_PKEY *k, const char *crv, const char *name,
		  int allow_rsa1_5, jwe_alg *alg, const jwe_curve **cv,
		  kbs_errbuf *eb)
{
	if (!jwe_alg_lookup(name, alg))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: unsupported alg \"%s\"", name ? name : "");
	if (*alg == JWE_RSA1_5 && !allow_rsa1_5)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: RSA1_5 is not allowed");
	if (*alg == JWE_ECDH_ES_A256KW) {
		*cv = crv != NULL ? jwe_curve_named(crv) : jwe_curve_of(k);
		if (*cv == NULL)
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
					"JWE: %s needs an EC P-256/384/521 key",
					name);
		return KBS_OK;
	}
	if (!EVP_PKEY_is_a(k, "RSA"))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: %s needs an RSA key", name);
	if (EVP_PKEY_get_bits(k) < JWE_MIN_RSA_BITS)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: RSA key shorter than %d bits",
				JWE_MIN_RSA_BITS);
	return KBS_OK;
}

/* The flattened JSON; every value is base64url, so no escaping needed. */
static char *
jwe_serialize(const char *prot, const uint8_t *ek, size_t eklen,
	      const uint8_t *iv, const uint8_t *ct, size_t ctlen,
	      const uint8_t *tag)
{
	static const char fmt[] = "{\"protected\":\"%s\",\"encrypted_key\":\"%s\","
				  "\"iv\":\"%s\",\"ciphertext\":\"%s\",\"tag\":\"%s\"}";
	char *e = kbs_b64_encode(ek, eklen, KBS_B64_URL);
	char *i = kbs_b64_encode(iv, JWE_IV_LEN, KBS_B64_URL);
	char *c = kbs_b64_encode(ct, ctlen, KBS_B64_URL);
	char *t = kbs_b64_encode(tag, JWE_TAG_LEN, KBS_B64_URL);
	char *out = NULL;
	size_t n;

	if (e == NULL || i == NULL || c == NULL || t == NULL)
		goto out;
	n = sizeof(fmt) + strlen(prot) + strlen(e) + strlen(i) + strlen(c) +
	    strlen(t);
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, fmt, prot, e, i, c, t);
out:
	free(e);
	free(i);
	free(c);
	free(t);
	return out;
}

/* Protected header {"alg","enc"[,"epk"]} with the CEK wrapped for pub. */
static kbs_err
jwe_wrap_cek(EVP_PKEY *pub, const jwe_curve *cv, int checked, jwe_alg alg,
	     const uint8_t *cek, char **prot, uint8_t **ek, size_t *eklen,
	     kbs_errbuf *eb)
{
	json_t *hdr;
	char *txt = NULL;
	kbs_err rc;

	/* Order matters: guest-components rebuilds the AAD as alg, enc, rest. */
	hdr = json_pack("{s:s, s:s}", "alg", jwe_alg_name(alg), "enc", JWE_ENC);
	if (hdr == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "JWE header");
	if (alg == JWE_ECDH_ES_A256KW)
		rc = jwe_ecdh_wrap(pub, cv, checked, cek, hdr, ek, eklen, eb);
	else
		rc = jwe_rsa_wrap(pub, alg, cek, ek, eklen, eb);
	if (rc == KBS_OK && ((txt = kbs_json_dumps(hdr)) == NULL ||
			     (*prot = kbs_b64_encode((const uint8_t *)txt,
						     strlen(txt),
						     KBS_B64_URL)) == NULL)) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "JWE header");
		free(*ek);
		*ek = NULL;
	}
	free(txt);
	json_decref(hdr);
	return rc;
}

/*
 * Both encryptions; crv: pub is a kbs_jwk's with this "crv" (NULL: a bare
 * key, or no curve), its point validated.
 */
static kbs_err
jwe_encrypt(EVP_PKEY *pub, const char *crv, int checked,
	    const char *alg_name, const uint8_t *pt, size_t ptlen,
	    int allow_rsa1_5, char **out, kbs_errbuf *eb)
{
	/* The CEK and the IV from one call for randomness. */
	uint8_t rnd[JWE_CEK_LEN + JWE_IV_LEN], tag[JWE_TAG_LEN];
	const uint8_t *cek = rnd, *iv = rnd + JWE_CEK_LEN;
	const jwe_curve *cv = NULL;
	uint8_t *ek = NULL, *ct = NULL;
	size_t eklen = 0;
	char *prot = NULL, *res;
	kbs_err rc;
	jwe_alg alg = JWE_RSA_OAEP_256; /* set by jwe_check_key_alg */

	if (pub == NULL || out == NULL || (pt == NULL && ptlen > 0))
		return kbs_errf(eb, KBS_ERR_INVALID, "JWE: missing argument");
	if (ptlen > KBS_JWE_MAX_PLAINTEXT)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"JWE: plaintext larger than %d bytes",
				KBS_JWE_MAX_PLAINTEXT);
	if ((rc = jwe_check_key_alg(pub, crv, alg_name, allow_rsa1_5, &alg,
				    &cv, eb)) != KBS_OK)
		return rc;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "JWE: no randomness");
	if ((rc = jwe_wrap_cek(pub, cv, checked, alg, cek, &prot, &ek, &eklen,
			       eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_CRYPTO;
	if ((ct = kbs_malloc(ptlen)) == NULL ||
	    kbs_aead_aes256gcm_seal(cek, iv, JWE_IV_LEN, (const uint8_t *)prot,
				    strlen(prot), pt, ptlen, ct, tag) != KBS_OK) {
		kbs_errf(eb, rc, "JWE: AES-GCM failed");
		goto out;
	}
	if ((res = jwe_serialize(prot, ek, eklen, iv, ct, ptlen, tag)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "JWE");
		goto out;
	}
	*out = res;
	rc = KBS_OK;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	free(ek);
	free(ct);
	free(prot);
	return rc;
}

kbs_err
kbs_jwe_encrypt_pkey(EVP_PKEY *pub, const char *alg_name, const uint8_t *pt,
		     size_t ptlen, int allow_rsa1_5, char **out, kbs_errbuf *eb)
{
	return jwe_encrypt(pub, NULL, 0, alg_name, pt, ptlen, allow_rsa1_5, out,
			   eb);
}

kbs_err
kbs_jwe_encrypt(const kbs_jwk *recipient, const uint8_t *pt, size_t ptlen,
		int allow_rsa1_5, char **out, kbs_errbuf *eb)
{
	if (recipient == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWE: no recipient key");
	if (kbs_jwk_alg(recipient) == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: recipient key has no \"alg\"");
	return jwe_encrypt(kbs_jwk_pkey(recipient), kbs_jwk_crv(recipient), 1,
			   kbs_jwk_alg(recipient), pt, ptlen, allow_rsa1_5,
			   out, eb);
}

/* ---- decryption ---- */

typedef struct {
	json_t *doc;       /* the flattened JWE */
	json_t *hdr;       /* decoded protected header */
	const char *prot;  /* borrowed from doc: the AAD */
	size_t protlen;
	jwe_alg alg;
	uint8_t *ek, *iv, *ct, *tag;
	size_t eklen, ivlen, ctlen, taglen;
} jwe_parts;

static void
jwe_parts_free(jwe_parts *p)
{
	json_decref(p->doc);
	json_decref(p->hdr);
	free(p->ek);
	free(p->iv);
	free(p->ct);
	free(p->tag);
}

/* Strict base64url member of the flattened object. */
static kbs_err
jwe_member(const json_t *doc, const char *name, size_t max, uint8_t **out,
	   size_t *len, kbs_errbuf *eb)
{
	const json_t *v = json_object_get(doc, name);

	if (!json_is_string(v))
		return kbs_errf(eb, KBS_ERR_INVALID,
				"JWE: \"%s\" missing or not a string", name);
	if (json_string_length(v) > max / 3 * 4 + 4)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWE: \"%s\" too long",
				name);
	if (kbs_b64_decode(json_string_value(v), json_string_length(v),
			   KBS_B64_URL, out, len) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"JWE: \"%s\" is not base64url", name);
	if (*len > max) {
		free(*out);
		*out = NULL;
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWE: \"%s\" too long",
				name);
	}
	return KBS_OK;
}

/* Only the five members of the KBS response; no aad, header, recipients. */
static kbs_err
jwe_check_members(const json_t *doc, kbs_errbuf *eb)
{
	static const char *const allowed[] = {"protected", "encrypted_key",
					      "iv", "ciphertext", "tag"};
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)doc, key, v) {
		for (i = 0; i < 5 && strcmp(key, allowed[i]) != 0; i++)
			;
		if (i == 5)
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
					"JWE: member \"%.32s\" not supported",
					key);
	}
	return KBS_OK;
}

/* Protected header: enc A256GCM, known alg, no zip, no crit. */
static kbs_err
jwe_check_header(jwe_parts *p, const char *expect, kbs_errbuf *eb)
{
	uint8_t *txt = NULL;
	size_t len = 0;
	const char *alg, *enc;
	kbs_err rc;

	if ((rc = jwe_member(p->doc, "protected", JWE_MAX_PROTECTED, &txt, &len,
			     eb)) != KBS_OK)
		return rc;
	p->hdr = kbs_json_parse_object((const char *)txt, len, 4, eb);
	free(txt);
	if (p->hdr == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWE: bad protected header");
	alg = kbs_json_str(p->hdr, "alg");
	enc = kbs_json_str(p->hdr, "enc");
	if (alg == NULL || enc == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWE: no alg or enc");
	if (strcmp(enc, JWE_ENC) != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: enc \"%.32s\" not supported", enc);
	if (json_object_get(p->hdr, "zip") || json_object_get(p->hdr, "crit"))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: zip and crit are not supported");
	if (!jwe_alg_lookup(alg, &p->alg))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: alg \"%.32s\" not supported", alg);
	if (expect != NULL && strcmp(expect, alg) != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: alg \"%.32s\" where %.32s was expected",
				alg, expect);
	p->prot = json_string_value(json_object_get(p->doc, "protected"));
	p->protlen = strlen(p->prot);
	return KBS_OK;
}

static kbs_err
jwe_parse(const char *json, size_t len, const char *expect, jwe_parts *p,
	  kbs_errbuf *eb)
{
	kbs_err rc;

	if (len > JWE_MAX_JSON)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWE: input too large");
	if ((p->doc = kbs_json_parse_object(json, len, 4, eb)) == NULL)
		return KBS_ERR_INVALID;
	if ((rc = jwe_check_members(p->doc, eb)) != KBS_OK ||
	    (rc = jwe_check_header(p, expect, eb)) != KBS_OK ||
	    (rc = jwe_member(p->doc, "encrypted_key", JWE_MAX_EK, &p->ek,
			     &p->eklen, eb)) != KBS_OK ||
	    (rc = jwe_member(p->doc, "iv", JWE_IV_LEN, &p->iv, &p->ivlen,
			     eb)) != KBS_OK ||
	    (rc = jwe_member(p->doc, "tag", JWE_TAG_LEN, &p->tag, &p->taglen,
			     eb)) != KBS_OK ||
	    (rc = jwe_member(p->doc, "ciphertext", KBS_JWE_MAX_PLAINTEXT,
			     &p->ct, &p->ctlen, eb)) != KBS_OK)
		return rc;
	if (p->ivlen != JWE_IV_LEN || p->taglen != JWE_TAG_LEN)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"JWE: iv must be 12 and tag 16 bytes");
	return KBS_OK;
}

static kbs_err
jwe_rsa_oaep_unwrap(EVP_PKEY *priv, const jwe_parts *p, uint8_t *cek,
		    kbs_errbuf *eb)
{
	EVP_PKEY_CTX *c = jwe_rsa_ctx(priv, JWE_RSA_OAEP_256, 0);
	uint8_t *buf = NULL;
	size_t n = (size_t)EVP_PKEY_get_size(priv);
	kbs_err rc = KBS_ERR_VERIFY;

	if (c == NULL || (buf = kbs_malloc(n)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "JWE: RSA");
		goto out;
	}
	if (EVP_PKEY_decrypt(c, buf, &n, p->ek, p->eklen) != 1 ||
	    n != JWE_CEK_LEN) {
		kbs_errf(eb, rc, "JWE: decryption failed");
		goto out;
	}
	memcpy(cek, buf, JWE_CEK_LEN);
	rc = KBS_OK;
out:
	kbs_freezero(buf, (size_t)EVP_PKEY_get_size(priv));
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return rc;
}

/*
 * RSA1_5 with the RFC 7516 11.5 defence: a random CEK stands in for a
 * bad padding or length, chosen without a branch, so the only failure is
 * the GCM tag and a Bleichenbacher attacker learns nothing from it.
 */
static kbs_err
jwe_rsa15_unwrap(EVP_PKEY *priv, const jwe_parts *p, uint8_t *cek,
		 kbs_errbuf *eb)
{
	EVP_PKEY_CTX *c = jwe_rsa_ctx(priv, JWE_RSA1_5, 0);
	size_t cap = (size_t)EVP_PKEY_get_size(priv), n = cap, i;
	uint8_t rnd[JWE_CEK_LEN], *buf = NULL, good, mask;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (c == NULL || cap < JWE_CEK_LEN || (buf = calloc(1, cap)) == NULL ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1) {
		kbs_errf(eb, rc, "JWE: RSA1_5 setup failed");
		goto out;
	}
	good = (uint8_t)(EVP_PKEY_decrypt(c, buf, &n, p->ek, p->eklen) == 1);
	good &= (uint8_t)(n == JWE_CEK_LEN);
	mask = (uint8_t)(0u - good);
	for (i = 0; i < JWE_CEK_LEN; i++)
		cek[i] = (uint8_t)((buf[i] & mask) | (rnd[i] & (uint8_t)~mask));
	rc = KBS_OK;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	kbs_freezero(buf, cap);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return rc;
}

/* Public EC key from the header's "epk", on the private key's curve. */
static kbs_err
jwe_epk_import(const json_t *epk, const jwe_curve *cv, EVP_PKEY **out,
	       kbs_errbuf *eb)
{
	uint8_t pt[1 + 2 * JWE_MAX_COORD], *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *c = NULL, *chk = NULL;
	EVP_PKEY *k = NULL;
	const char *kty = kbs_json_str(epk, "kty"), *crv = kbs_json_str(epk, "crv");
	const char *xs = kbs_json_str(epk, "x"), *ys = kbs_json_str(epk, "y");
	kbs_err rc = KBS_ERR_INVALID;

	if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL ||
	    strcmp(crv, cv->crv) != 0 || xs == NULL || ys == NULL ||
	    kbs_b64_decode(xs, strlen(xs), KBS_B64_URL, &x, &xl) != KBS_OK ||
	    kbs_b64_decode(ys, strlen(ys), KBS_B64_URL, &y, &yl) != KBS_OK ||
	    xl != cv->coord || yl != cv->coord) {
		kbs_errf(eb, rc, "JWE: bad epk (need EC %s)", cv->crv);
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, xl);
	memcpy(pt + 1 + xl, y, yl);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)cv->group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt,
						      1 + xl + yl);
	params[2] = OSSL_PARAM_construct_end();
	if ((c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (chk = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1) {
		kbs_errf(eb, rc, "JWE: epk is not a point on %s", cv->crv);
		goto out;
	}
	*out = k;
	k = NULL;
	rc = KBS_OK;
out:
	free(x);
	free(y);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_CTX_free(chk);
	ERR_clear_error();
	return rc;
}

static kbs_err
jwe_ecdh_unwrap(EVP_PKEY *priv, const jwe_parts *p, uint8_t *cek,
		kbs_errbuf *eb)
{
	const jwe_curve *cv = jwe_curve_of(priv);
	uint8_t kek[32], buf[JWE_KW_LEN];
	EVP_PKEY *epk = NULL;
	kbs_err rc;

	if (cv == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "JWE: unsupported curve");
	if (p->eklen != JWE_KW_LEN)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"JWE: encrypted_key must be %d bytes", JWE_KW_LEN);
	if ((rc = jwe_epk_import(json_object_get(p->hdr, "epk"), cv, &epk,
				 eb)) != KBS_OK)
		return rc;
	if ((rc = jwe_ecdh_kek(priv, epk, 1, kek, eb)) != KBS_OK)
		goto out;
	if (jwe_aeskw(0, kek, p->ek, p->eklen, buf) != JWE_CEK_LEN) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWE: decryption failed");
		goto out;
	}
	memcpy(cek, buf, JWE_CEK_LEN);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_free(epk);
	ERR_clear_error();
	return rc;
}

/* Recover the CEK with the algorithm the (checked) header names. */
static kbs_err
jwe_unwrap_cek(EVP_PKEY *priv, const jwe_parts *p, uint8_t *cek,
	       kbs_errbuf *eb)
{
	int rsa = EVP_PKEY_is_a(priv, "RSA");

	if (p->alg == JWE_ECDH_ES_A256KW)
		return jwe_ecdh_unwrap(priv, p, cek, eb);
	if (!rsa)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWE: %s needs an RSA key", jwe_alg_name(p->alg));
	if (p->alg == JWE_RSA_OAEP_256)
		return jwe_rsa_oaep_unwrap(priv, p, cek, eb);
	return jwe_rsa15_unwrap(priv, p, cek, eb);
}

kbs_err
kbs_jwe_decrypt_alg(EVP_PKEY *priv, const char *alg, const char *json,
		    size_t len, uint8_t **pt, size_t *ptlen, kbs_errbuf *eb)
{
	jwe_parts p = {0};
	uint8_t cek[JWE_CEK_LEN], *plain = NULL;
	kbs_err rc;

	if (priv == NULL || json == NULL || pt == NULL || ptlen == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWE: missing argument");
	OPENSSL_cleanse(cek, sizeof(cek));
	if ((rc = jwe_parse(json, len, alg, &p, eb)) != KBS_OK ||
	    (rc = jwe_unwrap_cek(priv, &p, cek, eb)) != KBS_OK)
		goto out;
	if ((plain = kbs_malloc(p.ctlen + 1)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "JWE");
		goto out;
	}
	/* The AAD is the protected header's ASCII; any failure is VERIFY. */
	if (kbs_aead_aes256gcm_open(cek, p.iv, JWE_IV_LEN,
				    (const uint8_t *)p.prot, p.protlen, p.ct,
				    p.ctlen, p.tag, plain) != KBS_OK) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWE: decryption failed");
		goto out;
	}
	plain[p.ctlen] = '\0'; /* for text payloads; not counted */
	*pt = plain;
	*ptlen = p.ctlen;
	plain = NULL;
	rc = KBS_OK;
out:
	kbs_freezero(plain, p.ctlen + 1);
	OPENSSL_cleanse(cek, sizeof(cek));
	jwe_parts_free(&p);
	return rc;
}

kbs_err
kbs_jwe_decrypt(EVP_PKEY *priv, const char *json, size_t len, uint8_t **pt,
		size_t *ptlen, kbs_errbuf *eb)
{
	return kbs_jwe_decrypt_alg(priv, NULL, json, len, pt, ptlen, eb);
}
