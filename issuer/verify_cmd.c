/*
 * verify_cmd.c - `kbs-issuer verify-evidence`: run the built-in verifier
 * on one piece of evidence, for operators (air-gapped replays, checking
 * collateral) and tests.  Exit 0 with the claims on stdout when every
 * check passed, 1 naming the failed check on stderr, 2 for usage errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "fsutil.h"
#include "tee_verify.h"
#include "verifier_tee.h"
#include "x509util.h"

#define CMD "kbs-issuer verify-evidence"

static const char usage[] =
	"usage: " CMD " --tee snp|tdx|sgx --evidence FILE [options]\n"
	"\n"
	"Verify TEE evidence with the issuer's built-in verifier and print its\n"
	"claims as JSON.  Exit status 0: every check passed (signatures, chains,\n"
	"bindings, validity at the given time); 1: a check failed (named on\n"
	"stderr); 2: usage error.  A poor but known TCB status is not a failure:\n"
	"it is reported in the claims (tcb_status) for the appraisal policy.\n"
	"\n"
	"  --tee T                   snp, tdx or sgx\n"
	"  --evidence FILE           raw report/quote, its base64, or the CoCo\n"
	"                            evidence JSON\n"
	"  --cert FILE               SNP VCEK/VLEK (DER or PEM) or a PEM bundle of\n"
	"                            VCEK, ASK and ARK (only the VEK is taken; the\n"
	"                            AMD roots are built in)\n"
	"  --collateral DIR          Intel collateral and offline VCEKs:\n"
	"                            {tdx,sgx}_tcbinfo_<fmspc>.json | tcbInfo.json,\n"
	"                            {tdx,sgx}_qeidentity.json | qeIdentity.json |\n"
	"                            enclaveIdentity.json, pck_{platform,processor}\n"
	"                            _crl.{der,pem}, root_ca_crl.{der,pem},\n"
	"                            tcb_signing_chain.pem, vcek-<Gen>-<hwid>-<tcb>.der,\n"
	"                            vcek.{der,pem}, vlek.{der,pem} (docs/verifier.md)\n"
	"  --at RFC3339              check validity at this time (default: now)\n"
	"  --expect-report-data HEX  report data must equal HEX zero-padded to 64\n"
	"                            bytes\n"
	"  --expect-init-data HEX    init-data digest to compare with HOST_DATA /\n"
	"                            MRCONFIGID / CONFIGID\n"
	"  --allow-expired-collateral  accept TCB info / QE identity past nextUpdate\n"
	"  --kds-fetch               fetch a missing VCEK from AMD KDS\n"
	"  --pcs-fetch               fetch missing collateral from Intel PCS\n"
	"  --cache-dir DIR           where fetched VCEKs and collateral are kept\n"
	"  --kds-url URL, --pcs-url URL  service base URLs (https)\n"
	"  --help                    this text\n";

enum { O_TEE = 256, O_EV, O_CERT, O_COLL, O_AT, O_RD, O_INIT, O_EXP, O_KDS, O_PCS,
       O_CACHE, O_KDS_URL, O_PCS_URL, O_HELP };

static const struct option longopts[] = {
	{"tee", required_argument, NULL, O_TEE},
	{"evidence", required_argument, NULL, O_EV},
	{"cert", required_argument, NULL, O_CERT},
	{"collateral", required_argument, NULL, O_COLL},
	{"at", required_argument, NULL, O_AT},
	{"expect-report-data", required_argument, NULL, O_RD},
	{"expect-init-data", required_argument, NULL, O_INIT},
	{"allow-expired-collateral", no_argument, NULL, O_EXP},
	{"kds-fetch", no_argument, NULL, O_KDS},
	{"pcs-fetch", no_argument, NULL, O_PCS},
	{"cache-dir", required_argument, NULL, O_CACHE},
	{"kds-url", required_argument, NULL, O_KDS_URL},
	{"pcs-url", required_argument, NULL, O_PCS_URL},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

struct cmd {
	const char *tee, *evidence, *rd_hex, *init_hex;
	kbs_tee_verifier_cfg cfg;
	uint8_t rd[64], init[64];
	size_t init_len;
	int help;
};

/* Hex of at most cap bytes into out, zero-padded; returns length or -1. */
static long
hex_arg(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap || n == 0)
		return -1;
	memset(out, 0, cap);
	return kbs_hex_decode(hex, n, out, n / 2) == KBS_OK ? (long)(n / 2) : -1;
}

static int
set_opt(struct cmd *c, int ch, const char *arg)
{
	switch (ch) {
	case O_TEE: c->tee = arg; break;
	case O_EV: c->evidence = arg; break;
	case O_CERT: c->cfg.cert_path = arg; break;
	case O_COLL: c->cfg.collateral_dir = arg; break;
	case O_AT:
		if (kbs_clock_parse_rfc3339(arg, &c->cfg.at) != 0 || c->cfg.at <= 0) {
			fprintf(stderr, CMD ": --at %s: not an RFC 3339 UTC time\n", arg);
			return -1;
		}
		break;
	case O_RD: c->rd_hex = arg; break;
	case O_INIT: c->init_hex = arg; break;
	case O_EXP: c->cfg.allow_expired_collateral = 1; break;
	case O_KDS: c->cfg.kds_fetch = 1; break;
	case O_PCS: c->cfg.pcs_fetch = 1; break;
	case O_CACHE: c->cfg.cache_dir = arg; break;
	case O_KDS_URL: c->cfg.kds_base_url = arg; break;
	case O_PCS_URL: c->cfg.pcs_base_url = arg; break;
	case O_HELP: c->help = 1; break;
	default: return -1;
	}
	return 0;
}

static int
parse_args(struct cmd *c, int argc, char **argv)
{
	long n;
	int ch;

	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (set_opt(c, ch, optarg) != 0)
			return -1;
	if (c->help)
		return 0;
	if (optind != argc || c->tee == NULL || c->evidence == NULL) {
		fprintf(stderr, CMD ": --tee and --evidence are required (see --help)\n");
		return -1;
	}
	if (c->rd_hex != NULL && hex_arg(c->rd_hex, c->rd, sizeof(c->rd)) < 0) {
		fprintf(stderr, CMD ": --expect-report-data: at most 64 bytes of hex\n");
		return -1;
	}
	if (c->init_hex != NULL && (n = hex_arg(c->init_hex, c->init, sizeof(c->init))) < 0) {
		fprintf(stderr, CMD ": --expect-init-data: at most 64 bytes of hex\n");
		return -1;
	}
	c->init_len = c->init_hex ? (size_t)n : 0;
	return 0;
}

static int
run(struct cmd *c)
{
	kbs_verifier *v = NULL;
	kbs_errbuf eb = {{0}};
	kbs_tee_expect x;
	json_t *claims = NULL;
	uint8_t *ev = NULL;
	size_t len = 0;
	kbs_err rc;

	memset(&x, 0, sizeof(x));
	x.report_data = c->rd_hex ? c->rd : NULL;
	x.report_data_what = "--expect-report-data";
	x.init_data_digest = c->init_hex ? c->init : NULL;
	x.init_data_digest_len = c->init_len;
	x.now = kbs_clock_now();
	rc = kbs_fs_read(c->evidence, KBS_TEE_EVIDENCE_MAX, &ev, &len, &eb);
	if (rc == KBS_OK)
		rc = kbs_verifier_tee_new(c->tee, &c->cfg, &v, &eb);
	if (rc == KBS_OK)
		rc = kbs_verifier_tee_verify_bytes(v, ev, len, &x, &claims, &eb);
	if (rc == KBS_OK) {
		json_dumpf(claims, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else
		fprintf(stderr, CMD ": FAILED (%s): %s\n", kbs_strerror(rc), eb.msg);
	json_decref(claims);
	kbs_verifier_free(v);
	free(ev);
	return rc == KBS_OK ? 0 : 1;
}

int
kbs_issuer_verify_evidence_main(int argc, char **argv)
{
	struct cmd c;

	memset(&c, 0, sizeof(c));
	if (parse_args(&c, argc, argv) != 0)
		return 2;
	if (c.help) {
		fputs(usage, stdout);
		return 0;
	}
	return run(&c);
}

int
kbs_issuer_command(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "verify-evidence") == 0)
		return kbs_issuer_verify_evidence_main(argc, argv);
	return -1;
}
