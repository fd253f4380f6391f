/* CRC-32 (IEEE, zlib's crc32), for event-stream messages (SubscribeToShard). */
#ifndef EDDY_CRC32_H
#define EDDY_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a running crc (start with 0): crc32_update(0, "123456789", 9) is
 * 0xCBF43926. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
