/* CRC-32C (Castagnoli), for segment records and manifests. */
#ifndef EDDY_CRC32C_H
#define EDDY_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a running crc (start with 0). */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

#endif
