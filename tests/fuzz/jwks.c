/*
 * libFuzzer driver: the broker's trust store input (common/trust.c).  The
 * input is parsed as JSON (kbs_json_parse) and used, on a fresh kbs_trust
 * each run, as
 *  - a JWKS for kbs_trust_add_jwks(), and
 *  - an issuer configuration entry for kbs_trust_rules_from_json(), whose
 *    rules (claims_map, tee_pubkey_paths, max_age, single_use,
 *    replay_cache_size) then go through kbs_trust_add_issuer() with a
 *    fixed JWKS file.
 * Either way, a fixed ES256 token (kid "fz-ec", whose key the seeds
 * carry) is then verified at a fixed time, so key selection, algorithm
 * pinning and the claim mapping run on fuzzed keys and rules.
 *
 * Checked: no crash or leak, and a token that verifies is vouched for by
 * the issuer added and, unless a claims_map rewrote them, carries its own
 * claims.
 * Seed corpus: tests/fuzz/corpus/jwks/ (EC, RSA and OKP key sets, rules).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "trust.h"

#define NOW 1795392000LL /* the token's iat + 10 s */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * iss "fuzz", aud "fuzz-aud", iat NOW - 10, exp NOW + 3600, jti "fz-1",
 * an EAR-like "submods" with a key at
 * /submods/cpu0/ear.veraison.key-attestation/akpub and a "tcb" object.
 */
static const char token[] =
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ6LWVjIiwidHlwIjoiSldUIn0."
	"eyJhdWQiOiJmdXp6LWF1ZCIsImV4cCI6MTc5NTM5NTYwMCwiaWF0IjoxNzk1MzkxOTkw"
	"LCJpc3MiOiJmdXp6IiwianRpIjoiZnotMSIsInN1Ym1vZHMiOnsiY3B1MCI6eyJlYXIu"
	"c3RhdHVzIjoiYWZmaXJtaW5nIiwiZWFyLnZlcmFpc29uLmtleS1hdHRlc3RhdGlvbiI6"
	"eyJha3B1YiI6eyJjcnYiOiJQLTI1NiIsImtpZCI6ImZ6LWVjIiwia3R5IjoiRUMiLCJ4"
	"IjoiZHhFeXJtcnUwTUk0X1UwcUhBTVhiQUJrTEJHQmpyWUc4OFNZamNjVjFwTSIsInki"
	"OiJHSGhyOV9LTUlSQW5oOTkxaWo4eHV5OVRDOGw0eEliYURJZUFLVHhtRmhZIn19fX0s"
	"InRjYiI6eyJzdGF0dXMiOiJVcFRvRGF0ZSIsInN2biI6WzEsMiwzXX19."
	"gszAGSdAwX8WZRQN6UfzFn34bFlMfvFSWLWOb5zshNkw1Akt0HdUYVFn9P8RYl6jCYtE"
	"IC8pZxxWFEbf9PANiw";

/* The public key the token is signed with, as the rules' issuer's JWKS. */
static const char ec_jwks[] =
	"{\"keys\": [{\"crv\": \"P-256\", \"kid\": \"fz-ec\", \"kty\": \"EC\", "
	"\"x\": \"dxEyrmru0MI4_U0qHAMXbABkLBGBjrYG88SYjccV1pM\", "
	"\"y\": \"GHhr9_KMIRAnh991ij8xuy9TC8l4xIbaDIeAKTxmFhY\", "
	"\"alg\": \"ES256\"}]}";

static char jwks_path[64];

static void
remove_jwks(void)
{
	unlink(jwks_path);
}

/* Write ec_jwks to a temporary file once; kbs_trust_add_issuer reads it. */
static const char *
jwks_file(void)
{
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	if (jwks_path[0] != '\0')
		return jwks_path;
	if (dir == NULL || strlen(dir) > 40)
		dir = "/tmp";
	snprintf(jwks_path, sizeof(jwks_path), "%s/fuzz-jwks-XXXXXX", dir);
	if ((fd = mkstemp(jwks_path)) < 0 || (f = fdopen(fd, "w")) == NULL ||
	    fputs(ec_jwks, f) < 0 || fclose(f) != 0)
		abort();
	atexit(remove_jwks);
	return jwks_path;
}

/*
 * Verify the fixed token against t, whose only issuer is called name.
 * Without a claims_map (mapped) the claims are the token's own.
 */
static void
verify(kbs_trust *t, const char *name, int mapped)
{
	const char *who = NULL;
	json_t *claims = NULL;
	kbs_jwk *k = NULL;
	kbs_errbuf eb;

	/* Twice: the second is a cache hit that returns the TEE key kept
	 * (or, for a single-use issuer, a refused replay). */
	if (kbs_trust_verify_teekey(t, token, strlen(token), NOW, &claims, &who,
				    &k, &eb) != KBS_OK)
		return;
	kbs_jwk_free(k);
	json_decref(claims);
	claims = NULL;
	k = NULL;
	if (kbs_trust_verify_teekey(t, token, strlen(token), NOW, &claims, &who,
				    &k, &eb) != KBS_OK)
		return;
	kbs_jwk_free(k);
	if (who == NULL || strcmp(who, name) != 0 ||
	    (!mapped &&
	     json_integer_value(json_object_get(claims, "iat")) != NOW - 10))
		abort();
	json_decref(claims);
}

static void
as_jwks(const json_t *j)
{
	kbs_trust *t = NULL;
	kbs_errbuf eb;

	if (kbs_trust_new(&t) != KBS_OK)
		return;
	if (kbs_trust_add_jwks(t, "fuzz", j, "fuzz-aud", 0, &eb) == KBS_OK)
		verify(t, "fuzz", 0);
	kbs_trust_free(t);
}

static void
as_rules(const json_t *j)
{
	kbs_trust_issuer_cfg cfg;
	kbs_trust *t = NULL;
	kbs_errbuf eb;

	memset(&cfg, 0, sizeof(cfg));
	if (kbs_trust_rules_from_json(j, &cfg, &eb) != KBS_OK ||
	    kbs_trust_new(&t) != KBS_OK)
		return;
	cfg.name = "rules";
	cfg.jwks_file = jwks_file();
	cfg.audience = "fuzz-aud";
	if (kbs_trust_add_issuer(t, &cfg, &eb) == KBS_OK)
		verify(t, "rules", cfg.claims_map != NULL);
	kbs_trust_free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = kbs_json_parse((const char *)data, size,
				   KBS_JSON_DEFAULT_DEPTH, NULL);

	if (j == NULL)
		return 0;
	as_jwks(j);
	as_rules(j);
	json_decref(j);
	return 0;
}
