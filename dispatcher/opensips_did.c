#include <stdint.h>
#include "opensips_did.h"

/* `value` in lowercase hex, least significant digit first ("0" for zero),
 * as OpenSIPS's int2reverse_hex() writes the halves of a did; returns the
 * end of what it wrote.
 */
static char *reverse_hex(uint32_t value, char *out)
{
	do {
		*out++ = "0123456789abcdef"[value & 0xf];
		value >>= 4;
	} while (value);
	return out;
}

int opensips_did(const char *dialog_id, char did[OPENSIPS_DID_SIZE])
{
	uint64_t id = 0;
	const char *c;
	char *end;

	if (!*dialog_id)
		return -1;
	for (c = dialog_id; *c; c++) {
		unsigned digit = (unsigned)(*c - '0');

		if (digit > 9 || id > (UINT64_MAX - digit) / 10)
			return -1;
		id = id * 10 + digit;
	}
	end = reverse_hex((uint32_t)(id >> 32), did);
	*end++ = '.';
	end = reverse_hex((uint32_t)id, end);
	*end = '\0';
	return 0;
}
