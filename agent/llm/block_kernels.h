/* Shared declarations of the block kernels (compiled together into one library by block_kernels.py).

   The library's entry points (called through ctypes; all return 0, or -1 for arguments they cannot take):
     block_matmul      one matrix product in packed rows, with the RMSNorm / SiLU(gate) * up before it and
                       the residual add after it (block_kernels.c)
     decode_attention  rotary + KV cache writes + causal attention of a few new tokens (decode_attention.c)
     decode_step       a whole forward pass of a few new tokens through a llama model (decode_step.c)
     kernel_threads    how many threads the kernels use (kernel_threads.c)
     memory_bandwidth  a STREAM-style probe: read / copy / triad GB/s (memory_probe.c)
   Every result is the same whatever the thread count: work is split only by output rows, heads, key blocks
   and dimensions, never inside one sum. */
#ifndef BLOCK_KERNELS_H
#define BLOCK_KERNELS_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_ROWS 16     /* tokens per call */
#define BLOCK 32        /* weights per quantization block */
#define KIND_Q4_1 0
#define KIND_Q8_0 1

/* A matrix w [n, k] in packed rows, one row after the other (n * packed_row_bytes(kind, k) bytes):
     Q4_1 row: d[k/32] float16 | m[k/32] float16 | q[k/32][16] nibbles (low = element j, high = element j+16);
               w = d * q + m
     Q8_0 row: d[k/32] float16 | q[k] int8; w = d * q
   These are the GGUF blocks' own values, with the row's scales first. */
typedef struct {
    int kind, k, n;
    const uint8_t *rows;
} packed_matrix;

size_t packed_row_bytes(int kind, int k);

/* y[m, r] (+)= sum_k in[m, k] * w[r, k] for rows r in [first, first + count), m < rows (<= MAX_ROWS);
   y has w->n columns. */
void matmul_rows(const packed_matrix *w, const float *in, int rows, int first, int count, float *y, int add);

/* The input a matrix of a llama layer takes: RMSNorm(x) * norm_w, or SiLU(gate) * up for x = gate|up
   ([rows, 2k]); out [rows, k]. */
void rms_norm_rows(const float *x, int rows, int k, const float *norm_w, float eps, float *out);
void silu_gate_rows(const float *x, int rows, int k, float *out);

/* The whole product as block_matmul does it, on the calling thread and the kernel threads. */
void parallel_matmul(const packed_matrix *w, const float *in, int rows, float *y, int add);

/* Attention of `rows` new tokens at positions start.. in one layer (see decode_attention.c). */
int attention_rows(const float *qkv, int rows, int start, int heads, int kv_heads, int head_dim, int capacity,
                   const float *rope, float *k_cache, float *v_cache, float *out);

/* fn(ctx, first, count) over items [0, items) in chunks of `chunk`, on this thread and the kernel threads. */
typedef void (*range_task)(void *ctx, int first, int count);
void run_parallel(int items, int chunk, range_task fn, void *ctx);

/* Scratch memory of the calling thread, kept between calls (decode steps would otherwise map and fault fresh
   pages for every call); 64-byte aligned, valid until the next call on this thread with slot >= this slot. */
float *scratch(int slot, size_t floats);

/* vector helpers (AVX2 + FMA; every build has them) */
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x per lane (x clamped to [-87, 88]): Cephes' expf polynomial, ~1 ulp */
static inline __m256 exp_lanes(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x), _mm256_set1_ps(1.0f));
    const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(scale));
}

#endif
