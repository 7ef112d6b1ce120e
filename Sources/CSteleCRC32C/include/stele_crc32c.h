#ifndef STELE_CRC32C_H
#define STELE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32C (Castagnoli) of `len` bytes at `buf`, continuing from `crc`.
///
/// `crc` is a finished CRC (0 for a fresh start), so calls chain:
/// crc(a + b) == stele_crc32c_hw(stele_crc32c_hw(0, a), b).
/// On x86-64 this executes SSE4.2 instructions: call it only when
/// stele_crc32c_hw_available() returns nonzero. Elsewhere it is a portable
/// table-driven implementation, correct but not fast.
uint32_t stele_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/// Nonzero when stele_crc32c_hw runs on the SSE4.2 crc32 instruction.
int stele_crc32c_hw_available(void);

#ifdef __cplusplus
}
#endif

#endif
