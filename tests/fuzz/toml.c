/* libFuzzer driver: the TOML parser (common/toml.c) and the init-data
 * reading on top of it (kbs_proto_initdata_parse in common/proto.c). */
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t d[KBS_PROTO_DIGEST_MAX];
	json_t *j = NULL;
	size_t n;

	if (kbs_toml_parse((const char *)data, size, &j, NULL) == KBS_OK)
		json_decref(j);
	j = NULL;
	if (kbs_proto_initdata_parse((const char *)data, size, d, &n, &j,
				     NULL) == KBS_OK)
		json_decref(j);
	return 0;
}
