/*
 * crc32c_speed: throughput of crc32c_update alone, run by hand (not built
 * by CMake, not a test). Bounded: 128 MiB per size, a few seconds in all.
 *
 *   cc -O2 -Icommon/include -Icommon tools/lib/bench/micro/crc32c_speed.c \
 *      common/crc32c.c common/log.c -o /tmp/crc32c_speed && /tmp/crc32c_speed
 *
 * Add -DCRC32C_SPEED_PATHS to time the two implementations inside
 * common/crc32c.c (crc32c_internal.h) as well; leave it out to time an older
 * crc32c.c that has only crc32c_update.
 */
#include "eddy/crc32c.h"
#ifdef CRC32C_SPEED_PATHS
#include "crc32c_internal.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { SPEED_TOTAL_BYTES = 128 << 20, SPEED_BUF_BYTES = 64 << 10 };

typedef uint32_t (*speed_fn)(uint32_t crc, const void *data, size_t len);

static double speed_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MB/s (10^6 bytes) over SPEED_TOTAL_BYTES in calls of len bytes at offset 1
 * (records are not aligned in the entry buffers). */
static double speed_run(speed_fn fn, const uint8_t *buf, size_t len, uint32_t *sink)
{
    size_t calls = SPEED_TOTAL_BYTES / len;
    uint32_t crc = 0;
    double t0 = speed_now_s();
    for (size_t k = 0; k < calls; k++) {
        crc = fn(crc, buf + 1, len);
    }
    double dt = speed_now_s() - t0;
    *sink ^= crc;
    return (double)calls * (double)len / dt / 1e6;
}

int main(void)
{
    static uint8_t buf[SPEED_BUF_BYTES + 8];
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (uint8_t)(k * 2654435761u >> 13);
    }
    static const size_t sizes[] = {100, 1024, 64 << 10};
    struct {
        const char *name;
        speed_fn fn;
    } fns[] = {
        {"crc32c_update", crc32c_update},
#ifdef CRC32C_SPEED_PATHS
        {"crc32c_update_sw", crc32c_update_sw},
        {"crc32c_update_hw", crc32c_has_hw() ? crc32c_update_hw : NULL},
#endif
    };
    uint32_t sink = 0;
    for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
        if (fns[f].fn == NULL) {
            printf("%-18s (no SSE 4.2 on this CPU)\n", fns[f].name);
            continue;
        }
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            printf("%-18s %6zu B calls: %8.0f MB/s\n", fns[f].name, sizes[s],
                   speed_run(fns[f].fn, buf, sizes[s], &sink));
        }
    }
    printf("(checksum sink %08x)\n", sink);
    return 0;
}
