/*
 * libFuzzer driver for the SEV-SNP report parser and its pure helpers.
 * Seed corpus: tests/fuzz/corpus/snp_report/ (real reports).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_snp_report *r = NULL;
	kbs_errbuf eb;
	char *s = NULL;
	kbs_snp_gen g;

	if (kbs_snp_report_parse(data, size, &r, &eb) != KBS_OK)
		return 0;
	g = kbs_snp_report_gen(r);
	(void)kbs_snp_tcb_decode(r->reported_tcb, g);
	if (kbs_snp_kds_vcek_url(r, g, &s, &eb) == KBS_OK)
		free(s);
	kbs_snp_report_free(r);
	return 0;
}
