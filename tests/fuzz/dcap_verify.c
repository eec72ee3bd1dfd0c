/*
 * libFuzzer driver: Intel DCAP quote verification with collateral, the
 * pure half (common/dcap_verify.c): kbs_dcap_quote_parse(), then
 * kbs_dcap_verify() with the TCB info, QE identity, TCB Signing chain and
 * CRLs given as bytes, as common/dcap_files.c reads them from a
 * directory; and kbs_dcap_files_lookup() on the quote.
 *
 * Input: one flags byte, then up to six parts, each a 2-byte little-endian
 * length and that many bytes: quote, TCB info, QE identity, TCB Signing
 * chain, PCK CRL, root CA CRL (a missing part is NULL).  Flags: bit 0
 * allow_expired_collateral; bit 1 verifies at 2025-11-01 (the vectors'
 * collateral is current) instead of 2026-11-23.
 *
 * Checked: no crash or leak; a verification that succeeds holds at the
 * time it was made (valid_from <= now <= valid_until); without TCB info
 * the TCB status is "unknown"; collateral_expired only when allowed.
 * Seed corpus: tests/fuzz/corpus/dcap_verify/ (the vectors' quotes with
 * and without the TDX collateral, framed as above).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dcap.h"
#include "dcap_files.h"
#include "dcap_verify.h"

#define REF_NOW 1795392000LL  /* 2026-11-23 */
#define COLL_NOW 1761955200LL /* 2025-11-01 */
#define NPARTS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Split data after the flags byte into parts; absent parts stay NULL. */
static void
split(const uint8_t *data, size_t size, const uint8_t *part[NPARTS], size_t len[NPARTS])
{
	size_t i, off = 1, n;

	for (i = 0; i < NPARTS; i++) {
		part[i] = NULL;
		len[i] = 0;
		if (off + 2 > size)
			continue;
		n = (size_t)data[off] | (size_t)data[off + 1] << 8;
		off += 2;
		if (n > size - off)
			n = size - off;
		part[i] = data + off;
		len[i] = n;
		off += n;
	}
}

static void
verify(const kbs_dcap_quote *q, const kbs_dcap_collateral *c, long long now)
{
	kbs_dcap_verified v;
	kbs_errbuf eb;

	if (kbs_dcap_verify(q, now, c, &v, &eb) != KBS_OK)
		return;
	if (v.valid_from > now || v.valid_until < now)
		abort();
	if ((c == NULL || c->tcb_info == NULL) && strcmp(v.tcb_status, "unknown") != 0)
		abort();
	if (v.collateral_expired && (c == NULL || !c->allow_expired_collateral))
		abort();
	kbs_dcap_verified_clear(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[NPARTS];
	size_t len[NPARTS];
	kbs_dcap_collateral c;
	kbs_dcap_quote *q = NULL;
	uint8_t fmspc[6];
	int processor;
	long long now;

	if (size < 1)
		return 0;
	split(data, size, part, len);
	if (part[0] == NULL || kbs_dcap_quote_parse(part[0], len[0], &q, NULL) != KBS_OK)
		return 0;
	(void)kbs_dcap_files_lookup(q, fmspc, &processor, NULL);
	memset(&c, 0, sizeof(c));
	c.tcb_info = (const char *)part[1];
	c.tcb_info_len = len[1];
	c.qe_identity = (const char *)part[2];
	c.qe_identity_len = len[2];
	c.tcb_signing = part[3];
	c.tcb_signing_len = len[3];
	c.pck_crl = part[4];
	c.pck_crl_len = len[4];
	c.root_crl = part[5];
	c.root_crl_len = len[5];
	c.allow_expired_collateral = data[0] & 1;
	now = data[0] & 2 ? COLL_NOW : REF_NOW;
	verify(q, NULL, now);
	verify(q, &c, now);
	kbs_dcap_quote_free(q);
	return 0;
}
