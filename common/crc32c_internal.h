/*
 * The two implementations behind crc32c_update (common/crc32c.c), exposed so
 * the unit test can check each against the other and a bitwise reference.
 * Not for use outside common/ and its tests: call crc32c_update.
 */
#ifndef EDDY_CRC32C_INTERNAL_H
#define EDDY_CRC32C_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slicing-by-8 from constant tables; any CPU. Same contract as crc32c_update. */
uint32_t crc32c_update_sw(uint32_t crc, const void *data, size_t len);

/* True when this CPU has the SSE 4.2 crc32 instruction (x86-64 only). */
bool crc32c_has_hw(void);

/* The crc32 instruction. Call only when crc32c_has_hw(); off x86-64 it is
 * crc32c_update_sw. */
uint32_t crc32c_update_hw(uint32_t crc, const void *data, size_t len);

#endif
