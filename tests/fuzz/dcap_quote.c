/*
 * libFuzzer driver for the Intel DCAP quote parser (SGX v3, TDX v4/v5).
 * Seed corpus: tests/fuzz/corpus/dcap_quote/ (real quotes).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_dcap_quote *q = NULL;
	volatile uint8_t sink = 0;
	kbs_errbuf eb;
	size_t i;

	if (kbs_dcap_quote_parse(data, size, &q, &eb) != KBS_OK)
		return 0;
	/* Touch every variable-length part so ASan sees out-of-bounds copies. */
	for (i = 0; i < q->signed_len; i++)
		sink ^= q->signed_data[i];
	for (i = 0; i < q->qe_auth_len; i++)
		sink ^= q->qe_auth[i];
	for (i = 0; i < q->pck_chain_len; i++)
		sink ^= q->pck_chain[i];
	(void)sink;
	kbs_dcap_quote_free(q);
	return 0;
}
