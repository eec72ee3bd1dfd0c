/* libFuzzer driver: the /attest request parser (common/proto.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_proto_attest *a = NULL;
	kbs_proto_auth auth;
	uint8_t d[KBS_PROTO_DIGEST_MAX];
	size_t n;

	if (kbs_proto_parse_attest((const char *)data, size, &a, NULL) == KBS_OK) {
		const char *init = kbs_proto_attest_initdata(a);
		uint8_t digest[48];
		kbs_proto_binding_digest(kbs_proto_attest_teekey_json(a),
					 kbs_proto_attest_nonce(a),
					 kbs_proto_attest_additional(a), digest, NULL);
		if (init != NULL)
			kbs_proto_initdata_digest(init, strlen(init), d, &n, NULL);
		kbs_proto_attest_free(a);
	}
	kbs_proto_parse_auth((const char *)data, size, &auth, NULL);
	kbs_proto_initdata_digest((const char *)data, size, d, &n, NULL);
	return 0;
}
