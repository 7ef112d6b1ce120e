#ifndef STELE_COMPRESSION_H
#define STELE_COMPRESSION_H

#include <stddef.h>
#include <stdint.h>

/// Codec numbers as in Kafka's batch attributes: 1 gzip, 3 lz4 (frame), 4 zstd.
/// (Snappy, 2, is implemented in Swift: no system library is needed for it.)
///
/// The system libraries (libz.so.1, liblz4.so.1, libzstd.so.1) are loaded with dlopen on first
/// use, so building Stele needs no -dev packages and a missing library is a clear error for
/// that codec only.

/// Returns 1 when the codec's library could be loaded.
int stele_codec_available(int codec);

/// Decompresses `source` into a malloc'ed buffer (`*output`, `*output_length`; free it with
/// `free`). Fails (returns -1 and writes `error`) on malformed input or when the result would
/// exceed `limit` bytes.
int stele_decompress(int codec, const void *source, size_t source_length, size_t limit,
                     void **output, size_t *output_length, char *error, size_t error_capacity);

/// Compresses `source` into a malloc'ed buffer. Returns 0, or -1 with `error`.
int stele_compress(int codec, const void *source, size_t source_length,
                   void **output, size_t *output_length, char *error, size_t error_capacity);

#endif
