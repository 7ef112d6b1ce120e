// Kafka's compression codecs through the system libraries, loaded at run time.
#include "stele_compression.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- zlib (gzip). The z_stream layout is zlib's ABI since 1.2 on LP64 systems.
typedef struct {
    const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
    unsigned char *next_out; unsigned avail_out; unsigned long total_out;
    const char *msg; void *state;
    void *zalloc; void *zfree; void *opaque;
    int data_type; unsigned long adler; unsigned long reserved;
} stele_z_stream;

static struct {
    int (*inflateInit2_)(stele_z_stream *, int, const char *, int);
    int (*inflate)(stele_z_stream *, int);
    int (*inflateEnd)(stele_z_stream *);
    int (*deflateInit2_)(stele_z_stream *, int, int, int, int, int, const char *, int);
    int (*deflate)(stele_z_stream *, int);
    int (*deflateEnd)(stele_z_stream *);
} zlib;

// ---- lz4 frame
typedef struct { unsigned stableDst; unsigned reserved[3]; } lz4_decompress_options;
static struct {
    size_t (*createDecompressionContext)(void **, unsigned);
    size_t (*freeDecompressionContext)(void *);
    size_t (*decompress)(void *, void *, size_t *, const void *, size_t *, const lz4_decompress_options *);
    unsigned (*isError)(size_t);
    const char *(*getErrorName)(size_t);
    size_t (*compressFrameBound)(size_t, const void *);
    size_t (*compressFrame)(void *, size_t, const void *, size_t, const void *);
} lz4;

// ---- zstd
typedef struct { const void *src; size_t size; size_t pos; } zstd_in_buffer;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out_buffer;
static struct {
    void *(*createDStream)(void);
    size_t (*freeDStream)(void *);
    size_t (*initDStream)(void *);
    size_t (*decompressStream)(void *, zstd_out_buffer *, zstd_in_buffer *);
    unsigned (*isError)(size_t);
    const char *(*getErrorName)(size_t);
    size_t (*compressBound)(size_t);
    size_t (*compress)(void *, size_t, const void *, size_t, int);
} zstd;

static int zlib_loaded, lz4_loaded, zstd_loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

#define LOAD(lib, table, name, symbol) ((table).name = dlsym(lib, symbol)) != NULL

static void load_libraries(void) {
    void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    zlib_loaded = z && LOAD(z, zlib, inflateInit2_, "inflateInit2_") && LOAD(z, zlib, inflate, "inflate")
        && LOAD(z, zlib, inflateEnd, "inflateEnd") && LOAD(z, zlib, deflateInit2_, "deflateInit2_")
        && LOAD(z, zlib, deflate, "deflate") && LOAD(z, zlib, deflateEnd, "deflateEnd");
    void *l = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);
    lz4_loaded = l && LOAD(l, lz4, createDecompressionContext, "LZ4F_createDecompressionContext")
        && LOAD(l, lz4, freeDecompressionContext, "LZ4F_freeDecompressionContext")
        && LOAD(l, lz4, decompress, "LZ4F_decompress") && LOAD(l, lz4, isError, "LZ4F_isError")
        && LOAD(l, lz4, getErrorName, "LZ4F_getErrorName") && LOAD(l, lz4, compressFrameBound, "LZ4F_compressFrameBound")
        && LOAD(l, lz4, compressFrame, "LZ4F_compressFrame");
    void *s = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    zstd_loaded = s && LOAD(s, zstd, createDStream, "ZSTD_createDStream") && LOAD(s, zstd, freeDStream, "ZSTD_freeDStream")
        && LOAD(s, zstd, initDStream, "ZSTD_initDStream") && LOAD(s, zstd, decompressStream, "ZSTD_decompressStream")
        && LOAD(s, zstd, isError, "ZSTD_isError") && LOAD(s, zstd, getErrorName, "ZSTD_getErrorName")
        && LOAD(s, zstd, compressBound, "ZSTD_compressBound") && LOAD(s, zstd, compress, "ZSTD_compress");
}

int stele_codec_available(int codec) {
    pthread_once(&load_once, load_libraries);
    switch (codec) {
    case 1: return zlib_loaded;
    case 3: return lz4_loaded;
    case 4: return zstd_loaded;
    default: return 0;
    }
}

static int fail(char *error, size_t capacity, const char *message) {
    snprintf(error, capacity, "%s", message);
    return -1;
}

/// A growing output buffer bounded by `limit`.
typedef struct { unsigned char *data; size_t length, capacity, limit; } sink;

static int sink_reserve(sink *out, size_t extra) {
    if (out->length + extra <= out->capacity) return 0;
    size_t wanted = out->capacity ? out->capacity * 2 : 65536;
    while (wanted < out->length + extra) wanted *= 2;
    if (wanted > out->limit) wanted = out->limit;
    if (wanted < out->length + extra) return -1;
    unsigned char *grown = realloc(out->data, wanted);
    if (!grown) return -1;
    out->data = grown;
    out->capacity = wanted;
    return 0;
}

static int gunzip(const void *source, size_t length, sink *out, char *error, size_t capacity) {
    stele_z_stream stream;
    memset(&stream, 0, sizeof stream);
    // 15 + 32: accept a gzip or zlib header (RFC 1952 / 1950).
    if (zlib.inflateInit2_(&stream, 15 + 32, "1.2.13", (int)sizeof stream) != 0) return fail(error, capacity, "inflateInit failed");
    stream.next_in = source;
    stream.avail_in = (unsigned)length;
    int result = 0;
    for (;;) {
        if (sink_reserve(out, 65536) != 0) { result = fail(error, capacity, "decompressed size exceeds the limit"); break; }
        stream.next_out = out->data + out->length;
        stream.avail_out = (unsigned)(out->capacity - out->length);
        int status = zlib.inflate(&stream, 0);
        out->length = out->capacity - stream.avail_out;
        if (status == 1) break; // Z_STREAM_END
        if (status != 0) { result = fail(error, capacity, stream.msg ? stream.msg : "malformed gzip data"); break; }
        if (stream.avail_in == 0 && stream.avail_out != 0) { result = fail(error, capacity, "truncated gzip data"); break; }
    }
    zlib.inflateEnd(&stream);
    return result;
}

static int unlz4(const void *source, size_t length, sink *out, char *error, size_t capacity) {
    void *context = NULL;
    size_t status = lz4.createDecompressionContext(&context, 100);
    if (lz4.isError(status)) return fail(error, capacity, lz4.getErrorName(status));
    const unsigned char *in = source;
    size_t remaining = length;
    int result = 0;
    for (;;) {
        if (sink_reserve(out, 65536) != 0) { result = fail(error, capacity, "decompressed size exceeds the limit"); break; }
        size_t produced = out->capacity - out->length, consumed = remaining;
        status = lz4.decompress(context, out->data + out->length, &produced, in, &consumed, NULL);
        if (lz4.isError(status)) { result = fail(error, capacity, lz4.getErrorName(status)); break; }
        out->length += produced;
        in += consumed;
        remaining -= consumed;
        if (status == 0) break; // frame complete
        if (remaining == 0 && produced == 0) { result = fail(error, capacity, "truncated lz4 frame"); break; }
    }
    lz4.freeDecompressionContext(context);
    return result;
}

static int unzstd(const void *source, size_t length, sink *out, char *error, size_t capacity) {
    void *stream = zstd.createDStream();
    if (!stream) return fail(error, capacity, "ZSTD_createDStream failed");
    zstd.initDStream(stream);
    zstd_in_buffer in = { source, length, 0 };
    int result = 0;
    size_t status = 1;
    while (in.pos < in.size || status != 0) {
        if (sink_reserve(out, 65536) != 0) { result = fail(error, capacity, "decompressed size exceeds the limit"); break; }
        zstd_out_buffer buffer = { out->data, out->capacity, out->length };
        status = zstd.decompressStream(stream, &buffer, &in);
        if (zstd.isError(status)) { result = fail(error, capacity, zstd.getErrorName(status)); break; }
        int progressed = buffer.pos != out->length;
        out->length = buffer.pos;
        if (in.pos == in.size && status != 0 && !progressed) { result = fail(error, capacity, "truncated zstd frame"); break; }
    }
    zstd.freeDStream(stream);
    return result;
}

int stele_decompress(int codec, const void *source, size_t source_length, size_t limit,
                     void **output, size_t *output_length, char *error, size_t error_capacity) {
    if (!stele_codec_available(codec)) return fail(error, error_capacity, "codec library not available");
    sink out = { NULL, 0, 0, limit };
    int result;
    switch (codec) {
    case 1: result = gunzip(source, source_length, &out, error, error_capacity); break;
    case 3: result = unlz4(source, source_length, &out, error, error_capacity); break;
    case 4: result = unzstd(source, source_length, &out, error, error_capacity); break;
    default: result = fail(error, error_capacity, "unknown codec");
    }
    if (result != 0) { free(out.data); return -1; }
    *output = out.data ? out.data : malloc(1);
    *output_length = out.length;
    return 0;
}

int stele_compress(int codec, const void *source, size_t source_length,
                   void **output, size_t *output_length, char *error, size_t error_capacity) {
    if (!stele_codec_available(codec)) return fail(error, error_capacity, "codec library not available");
    if (codec == 1) {
        stele_z_stream stream;
        memset(&stream, 0, sizeof stream);
        // Level 6 (zlib's default), deflate, 15 + 16: gzip header, memLevel 8, default strategy.
        if (zlib.deflateInit2_(&stream, 6, 8, 15 + 16, 8, 0, "1.2.13", (int)sizeof stream) != 0) return fail(error, error_capacity, "deflateInit failed");
        size_t bound = source_length + source_length / 1000 + 64;
        unsigned char *buffer = malloc(bound);
        stream.next_in = source;
        stream.avail_in = (unsigned)source_length;
        stream.next_out = buffer;
        stream.avail_out = (unsigned)bound;
        int status = zlib.deflate(&stream, 4); // Z_FINISH
        size_t produced = bound - stream.avail_out;
        zlib.deflateEnd(&stream);
        if (status != 1) { free(buffer); return fail(error, error_capacity, "gzip compression failed"); }
        *output = buffer;
        *output_length = produced;
        return 0;
    }
    if (codec == 3) {
        size_t bound = lz4.compressFrameBound(source_length, NULL);
        void *buffer = malloc(bound);
        size_t produced = lz4.compressFrame(buffer, bound, source, source_length, NULL);
        if (lz4.isError(produced)) { free(buffer); return fail(error, error_capacity, lz4.getErrorName(produced)); }
        *output = buffer;
        *output_length = produced;
        return 0;
    }
    if (codec == 4) {
        size_t bound = zstd.compressBound(source_length);
        void *buffer = malloc(bound);
        size_t produced = zstd.compress(buffer, bound, source, source_length, 3);
        if (zstd.isError(produced)) { free(buffer); return fail(error, error_capacity, zstd.getErrorName(produced)); }
        *output = buffer;
        *output_length = produced;
        return 0;
    }
    return fail(error, error_capacity, "unknown codec");
}
