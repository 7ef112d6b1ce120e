// CRC-32C, reflected polynomial 0x82F63B78.
//
// The crc32 instruction has a latency of three cycles but can issue once per
// cycle, so a single dependent chain leaves two thirds of it idle. We run
// three independent chains over adjacent blocks and then merge them by
// "shifting" the earlier CRCs past the later blocks' length in zero bytes.
// Technique from Mark Adler's crc32c.c, as described in
// https://stackoverflow.com/a/17646775; this is an independent implementation.

#include "stele_crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u

#if defined(__x86_64__)

#include <nmmintrin.h>

// Long blocks amortise the merge (two table lookups per stream), short ones
// keep mid-sized records from falling through to the single-chain loop.
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

// Product of two polynomials modulo POLY, in the reflected bit order the CRC
// register uses (bit 31 is the x^0 coefficient).
static uint32_t mul_mod_poly(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
        if (a & bit) product ^= b;
        b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
    }
    return product;
}

// Feeding n zero bytes through the raw CRC register multiplies it by
// x^(8n) mod POLY; tabulating that linear map per register byte turns the
// merge into four lookups.
static void build_zeros_table(uint32_t table[4][256], size_t n) {
    uint32_t op = 1u << 31;       // x^0
    uint32_t square = 1u << 23;   // x^8, one zero byte
    for (; n != 0; n >>= 1) {
        if (n & 1) op = mul_mod_poly(op, square);
        square = mul_mod_poly(square, square);
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t i = 0; i < 256; i++)
            table[k][i] = mul_mod_poly(op, i << (8 * k));
}

static uint32_t long_zeros[4][256];
static uint32_t short_zeros[4][256];
static pthread_once_t zeros_once = PTHREAD_ONCE_INIT;

static void build_zeros_tables(void) {
    build_zeros_table(long_zeros, LONG_BLOCK);
    build_zeros_table(short_zeros, SHORT_BLOCK);
}

static inline uint32_t shift(const uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^
           table[2][(crc >> 16) & 0xff] ^ table[3][crc >> 24];
}

// memcpy keeps unaligned loads free of undefined behaviour; it compiles to mov.
static inline uint64_t load64(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, sizeof word);
    return word;
}

// Consumes 3 * block bytes at p, continuing the raw (unfinalised) register.
__attribute__((target("sse4.2")))
static inline uint32_t three_streams(uint32_t crc, const unsigned char *p,
                                     size_t block, const uint32_t zeros[4][256]) {
    uint64_t c0 = crc, c1 = 0, c2 = 0;
    for (const unsigned char *end = p + block; p < end; p += 8) {
        c0 = _mm_crc32_u64(c0, load64(p));
        c1 = _mm_crc32_u64(c1, load64(p + block));
        c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
    }
    uint32_t merged = shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
    return shift(zeros, merged) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2")))
uint32_t stele_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
    const unsigned char *p = buf;
    uint32_t c = ~crc;

    // Word loads that straddle cache lines are slower; align first.
    while (len != 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8(c, *p++);
        len--;
    }
    if (len >= 3 * SHORT_BLOCK) {
        pthread_once(&zeros_once, build_zeros_tables);
        for (; len >= 3 * LONG_BLOCK; len -= 3 * LONG_BLOCK, p += 3 * LONG_BLOCK)
            c = three_streams(c, p, LONG_BLOCK, long_zeros);
        for (; len >= 3 * SHORT_BLOCK; len -= 3 * SHORT_BLOCK, p += 3 * SHORT_BLOCK)
            c = three_streams(c, p, SHORT_BLOCK, short_zeros);
    }
    uint64_t c64 = c;
    for (; len >= 8; len -= 8, p += 8)
        c64 = _mm_crc32_u64(c64, load64(p));
    c = (uint32_t)c64;
    for (; len != 0; len--)
        c = _mm_crc32_u8(c, *p++);
    return ~c;
}

int stele_crc32c_hw_available(void) {
    return __builtin_cpu_supports("sse4.2");
}

#else

// Without the x86 instruction this entry point must still give correct
// answers, should a caller skip the availability check.
static uint32_t byte_table[256];
static pthread_once_t byte_table_once = PTHREAD_ONCE_INIT;

static void build_byte_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        byte_table[i] = c;
    }
}

uint32_t stele_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
    pthread_once(&byte_table_once, build_byte_table);
    const unsigned char *p = buf;
    uint32_t c = ~crc;
    while (len-- != 0)
        c = (c >> 8) ^ byte_table[(c ^ *p++) & 0xff];
    return ~c;
}

int stele_crc32c_hw_available(void) {
    return 0;
}

#endif
