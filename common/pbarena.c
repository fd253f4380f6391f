/*
 * The protobuf-c unpack arena (eddy/pbarena.h). Memory: the arena's header
 * and its first block are one allocation, so that the tree's first
 * allocation sits at a fixed offset from the header (pbarena_of_first);
 * later blocks are chained, newest first, each at least double the last.
 * Every allocation is 16-byte aligned, as malloc's are.
 */
#include "eddy/pbarena.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"

#include <stdint.h>

#define PBARENA_ALIGN 16
#define PBARENA_MAGIC 0x52414250u /* "PBAR" read as a little-endian u32 */
/* The least first block: the top message must fit it (pbarena_of_first). */
#define PBARENA_FIRST_BYTES_MIN 4096
/* Later blocks stop doubling here; a larger allocation gets its own size. */
#define PBARENA_BLOCK_BYTES_MAX (8 * 1024 * 1024)

struct pbarena_block {
    struct pbarena_block *next;
};

struct pbarena {
    uint32_t magic;
    bool is_oom;
    ProtobufCAllocator allocator;
    struct pbarena_block *blocks; /* the blocks after the first, newest first */
    uint8_t *next;                /* free space of the newest block */
    size_t left;
    size_t block_bytes; /* size of the newest block */
};

static size_t pbarena_round(size_t n)
{
    return (n + PBARENA_ALIGN - 1) & ~(size_t)(PBARENA_ALIGN - 1);
}

#define PBARENA_HEADER_BYTES pbarena_round(sizeof(struct pbarena))
#define PBARENA_BLOCK_HEADER_BYTES pbarena_round(sizeof(struct pbarena_block))

static void *pbarena_alloc(void *data, size_t size)
{
    struct pbarena *a = data;
    EDDY_ASSERT(a->magic == PBARENA_MAGIC);
    if (size > SIZE_MAX / 2) {
        a->is_oom = true; /* no such allocation */
        return NULL;
    }
    size = pbarena_round(size > 0 ? size : 1);
    if (size > a->left) {
        size_t bytes = a->block_bytes < PBARENA_BLOCK_BYTES_MAX / 2 ? a->block_bytes * 2
                                                                    : PBARENA_BLOCK_BYTES_MAX;
        if (bytes < size) {
            bytes = size;
        }
        struct pbarena_block *b = eddy_malloc(PBARENA_BLOCK_HEADER_BYTES + bytes);
        if (b == NULL) {
            a->is_oom = true;
            return NULL;
        }
        b->next = a->blocks;
        a->blocks = b;
        a->next = (uint8_t *)b + PBARENA_BLOCK_HEADER_BYTES;
        a->left = bytes;
        a->block_bytes = bytes;
    }
    void *p = a->next;
    a->next += size;
    a->left -= size;
    return p;
}

/* The tree is freed with its arena. */
static void pbarena_free_one(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

struct pbarena *pbarena_create(size_t first_bytes)
{
    if (first_bytes < PBARENA_FIRST_BYTES_MIN) {
        first_bytes = PBARENA_FIRST_BYTES_MIN;
    }
    if (first_bytes > SIZE_MAX / 2) {
        return NULL;
    }
    first_bytes = pbarena_round(first_bytes);
    uint8_t *p = eddy_malloc(PBARENA_HEADER_BYTES + first_bytes);
    if (p == NULL) {
        return NULL;
    }
    struct pbarena *a = (struct pbarena *)p;
    *a = (struct pbarena){
        .magic = PBARENA_MAGIC,
        .allocator = {.alloc = pbarena_alloc, .free = pbarena_free_one, .allocator_data = a},
        .next = p + PBARENA_HEADER_BYTES,
        .left = first_bytes,
        .block_bytes = first_bytes,
    };
    return a;
}

ProtobufCAllocator *pbarena_allocator(struct pbarena *a)
{
    EDDY_ASSERT(a != NULL);
    return &a->allocator;
}

bool pbarena_is_oom(const struct pbarena *a)
{
    return a->is_oom;
}

bool pbarena_is_first(const struct pbarena *a, const void *p)
{
    return (const uint8_t *)p == (const uint8_t *)a + PBARENA_HEADER_BYTES;
}

struct pbarena *pbarena_of_first(void *first)
{
    EDDY_ASSERT(first != NULL);
    struct pbarena *a = (struct pbarena *)((uint8_t *)first - PBARENA_HEADER_BYTES);
    EDDY_ASSERT(a->magic == PBARENA_MAGIC);
    return a;
}

void pbarena_destroy(struct pbarena *a)
{
    if (a == NULL) {
        return;
    }
    EDDY_ASSERT(a->magic == PBARENA_MAGIC);
    struct pbarena_block *b = a->blocks;
    while (b != NULL) {
        struct pbarena_block *next = b->next;
        eddy_free(b);
        b = next;
    }
    a->magic = 0;
    eddy_free(a);
}
