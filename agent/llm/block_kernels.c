/* Matrix products with weights kept in GGUF's Q4_1 / Q8_0 blocks and float32 activations (x86-64).

   y[m, r] = sum over k of x[m, k] * w[r, k] for up to MAX_ROWS rows of x, w in packed rows (block_kernels.h).
   Every weight value is the one the float32 checkpoint holds, and every product is a float32 product of that
   weight and x: only the summation order differs from a dense float32 product. A decode step reads 5-8x
   fewer bytes of weights than float32 does, and that is the point: one token of a small model is bound by
   memory bandwidth.

   Two builds of this file (block_kernels.py picks by CPU):
   - AVX-512F: a Q4_1 block's 16 possible weights d * i + m are made with one FMA and each nibble
     picks its weight with one permute (vpermps reads only an index's low 4 bits, so the high nibble needs
     just a shift and the low one nothing): 2 ops per 16 weights before the FMA with x, against 4 for
     integer-to-float conversion. Q8_0 converts (256 values: no table).
   - AVX2 + FMA + F16C: nibbles are converted to float, two rows at a time; the min term is added per
     block as m * (x's block sum).
   The float16 scales of a row are converted once per row, into a small array. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>

#include "block_kernels.h"

#define MAX_BLOCKS 1024 /* k <= 32768 */
#define PREFETCH 8192   /* bytes ahead in the weight stream: 11.3 -> 7.7 ms for a token's layers (AVX-512) */

/* Ask for the lines of the row PREFETCH bytes ahead: the hardware prefetcher alone leaves the stream at
   half the bandwidth a plain read of the same bytes gets, while the core is busy with the products.
   A macro: GCC finds a function made of prefetches free of side effects and drops its calls. */
#define PREFETCH_AHEAD(row, stride) \
    for (size_t o_ = 0; o_ < (stride); o_ += 64) _mm_prefetch((const char *)((row) + PREFETCH + o_), _MM_HINT_T0)

size_t packed_row_bytes(int kind, int k) {
    const size_t nb = (size_t)k / BLOCK;
    return kind == KIND_Q4_1 ? nb * (4 + 16) : nb * 2 + (size_t)k;
}

/* float16 scales [count] -> float32 */
static inline void scales_to_float(const uint16_t *h, int count, float *out) {
    int i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < count; i++) out[i] = _cvtsh_ss(h[i]);
}

static inline void store_row(float *y, int add, float v) { *y = add ? *y + v : v; }

#ifdef __AVX512F__

/* Q4_1 rows [first, first + count), M rows of x. */
static inline __attribute__((always_inline)) void q4_1_rows(const float *x, const int M, int K, const uint8_t *w,
                                                           int first, int count, float *y, int N, int add) {
    const int nb = K / BLOCK;
    const size_t stride = packed_row_bytes(KIND_Q4_1, K);
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    float d[MAX_BLOCKS], m[MAX_BLOCKS];
    for (int r = first; r < first + count; r++) {
        const uint8_t *row = w + (size_t)r * stride, *q = row + 4 * (size_t)nb;
        PREFETCH_AHEAD(row, stride);
        scales_to_float((const uint16_t *)row, nb, d);
        scales_to_float((const uint16_t *)row + nb, nb, m);
        __m512 lo[MAX_ROWS], hi[MAX_ROWS];
        for (int j = 0; j < M; j++) lo[j] = hi[j] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16 * b)));
            const __m512 table = _mm512_fmadd_ps(_mm512_set1_ps(d[b]), iota, _mm512_set1_ps(m[b]));
            const __m512 w0 = _mm512_permutexvar_ps(v, table);                        /* elements 0..15 */
            const __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);  /* elements 16..31 */
            for (int j = 0; j < M; j++) {
                const float *xb = x + (size_t)j * K + BLOCK * b;
                lo[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xb), lo[j]);
                hi[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb + 16), hi[j]);
            }
        }
        for (int j = 0; j < M; j++) store_row(y + (size_t)j * N + r, add, _mm512_reduce_add_ps(_mm512_add_ps(lo[j], hi[j])));
    }
}

static inline __attribute__((always_inline)) void q8_0_rows(const float *x, const int M, int K, const uint8_t *w,
                                                           int first, int count, float *y, int N, int add) {
    const int nb = K / BLOCK;
    const size_t stride = packed_row_bytes(KIND_Q8_0, K);
    float d[MAX_BLOCKS];
    for (int r = first; r < first + count; r++) {
        const uint8_t *row = w + (size_t)r * stride;
        const int8_t *q = (const int8_t *)(row + 2 * (size_t)nb);
        PREFETCH_AHEAD(row, stride);
        scales_to_float((const uint16_t *)row, nb, d);
        __m512 lo[MAX_ROWS], hi[MAX_ROWS];
        for (int j = 0; j < M; j++) lo[j] = hi[j] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const __m512 db = _mm512_set1_ps(d[b]);
            const __m512 w0 = _mm512_mul_ps(db, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                _mm_loadu_si128((const __m128i *)(q + BLOCK * b)))));
            const __m512 w1 = _mm512_mul_ps(db, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                _mm_loadu_si128((const __m128i *)(q + BLOCK * b + 16)))));
            for (int j = 0; j < M; j++) {
                const float *xb = x + (size_t)j * K + BLOCK * b;
                lo[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xb), lo[j]);
                hi[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb + 16), hi[j]);
            }
        }
        for (int j = 0; j < M; j++) store_row(y + (size_t)j * N + r, add, _mm512_reduce_add_ps(_mm512_add_ps(lo[j], hi[j])));
    }
}

#define ROW_GROUP 8 /* rows of x per pass over the weights: two accumulators each stay in registers */

#else /* AVX2 */

static inline __attribute__((always_inline)) void unpack_q4(const uint8_t *p, __m256 *f) {
    const __m128i low = _mm_set1_epi8(0x0F);
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m128i lo = _mm_and_si128(v, low), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low);
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

#define DOT32(f, xb) _mm256_fmadd_ps((f)[3], _mm256_loadu_ps((xb) + 24), _mm256_fmadd_ps((f)[2], \
    _mm256_loadu_ps((xb) + 16), _mm256_fmadd_ps((f)[1], _mm256_loadu_ps((xb) + 8), \
    _mm256_mul_ps((f)[0], _mm256_loadu_ps(xb)))))

/* Two rows of w at a time (the x loads are shared, the chains independent); the min term is
   m * (x's block sum, as 8 lanes: xsums [M, nb, 8]). An odd last row is paired with itself. */
static inline __attribute__((always_inline)) void q4_1_pairs(const float *x, const int M, int K, const uint8_t *w,
                                                            const float *xsums, int first, int count, float *y,
                                                            int N, int add) {
    const int nb = K / BLOCK;
    const size_t stride = packed_row_bytes(KIND_Q4_1, K);
    float d0[MAX_BLOCKS], m0[MAX_BLOCKS], d1[MAX_BLOCKS], m1[MAX_BLOCKS];
    for (int r = first; r < first + count; r += 2) {
        const int r2 = r + 1 < first + count ? r + 1 : r;
        const uint8_t *row = w + (size_t)r * stride, *row2 = w + (size_t)r2 * stride;
        PREFETCH_AHEAD(row, 2 * stride);
        scales_to_float((const uint16_t *)row, nb, d0);
        scales_to_float((const uint16_t *)row + nb, nb, m0);
        scales_to_float((const uint16_t *)row2, nb, d1);
        scales_to_float((const uint16_t *)row2 + nb, nb, m1);
        const uint8_t *q = row + 4 * (size_t)nb, *q2 = row2 + 4 * (size_t)nb;
        __m256 acc[8], acc2[8];
        for (int j = 0; j < M; j++) acc[j] = acc2[j] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256 f[4], g[4];
            unpack_q4(q + 16 * b, f);
            unpack_q4(q2 + 16 * b, g);
            for (int j = 0; j < M; j++) {
                const float *xb = x + (size_t)j * K + BLOCK * b;
                const __m256 xs = _mm256_loadu_ps(xsums + ((size_t)j * nb + b) * 8);
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(m0[b]), xs, _mm256_fmadd_ps(_mm256_set1_ps(d0[b]), DOT32(f, xb), acc[j]));
                acc2[j] = _mm256_fmadd_ps(_mm256_set1_ps(m1[b]), xs, _mm256_fmadd_ps(_mm256_set1_ps(d1[b]), DOT32(g, xb), acc2[j]));
            }
        }
        for (int j = 0; j < M; j++) {
            store_row(y + (size_t)j * N + r, add, hsum256(acc[j]));
            if (r2 != r) store_row(y + (size_t)j * N + r2, add, hsum256(acc2[j]));
        }
    }
}

static inline __attribute__((always_inline)) void q8_0_rows(const float *x, const int M, int K, const uint8_t *w,
                                                           int first, int count, float *y, int N, int add) {
    const int nb = K / BLOCK;
    const size_t stride = packed_row_bytes(KIND_Q8_0, K);
    float d[MAX_BLOCKS];
    for (int r = first; r < first + count; r++) {
        const uint8_t *row = w + (size_t)r * stride;
        const int8_t *q = (const int8_t *)(row + 2 * (size_t)nb);
        PREFETCH_AHEAD(row, stride);
        scales_to_float((const uint16_t *)row, nb, d);
        __m256 even[8], odd[8];
        for (int j = 0; j < M; j++) even[j] = odd[j] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256 f[4];
            for (int i = 0; i < 4; i++)
                f[i] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + BLOCK * b + 8 * i))));
            const __m256 db = _mm256_set1_ps(d[b]);
            for (int j = 0; j < M; j++) {
                __m256 *acc = b % 2 ? &odd[j] : &even[j];
                *acc = _mm256_fmadd_ps(db, DOT32(f, x + (size_t)j * K + BLOCK * b), *acc);
            }
        }
        for (int j = 0; j < M; j++) store_row(y + (size_t)j * N + r, add, hsum256(_mm256_add_ps(even[j], odd[j])));
    }
}

#define ROW_GROUP 8

#endif

/* One copy of each kernel per row count, so that the accumulators live in registers. */
#define BY_ROWS(F, M, ...) switch (M) { \
    case 1: F(1, __VA_ARGS__); break; case 2: F(2, __VA_ARGS__); break; case 3: F(3, __VA_ARGS__); break; \
    case 4: F(4, __VA_ARGS__); break; case 5: F(5, __VA_ARGS__); break; case 6: F(6, __VA_ARGS__); break; \
    case 7: F(7, __VA_ARGS__); break; default: F(8, __VA_ARGS__); }

#ifdef __AVX512F__
#define Q4_1(M, x, K, w, xs, first, count, y, N, add) q4_1_rows(x, M, K, w, first, count, y, N, add)
#else
#define Q4_1(M, x, K, w, xs, first, count, y, N, add) q4_1_pairs(x, M, K, w, xs, first, count, y, N, add)
#endif
#define Q8_0(M, x, K, w, xs, first, count, y, N, add) q8_0_rows(x, M, K, w, first, count, y, N, add)

/* x's block sums as 8 lanes, [rows, nb, 8]: the AVX2 Q4_1 kernel's min term */
static const float *block_sums(const float *x, int rows, int k) {
#ifdef __AVX512F__
    (void)x, (void)rows, (void)k;
    return NULL;
#else
    const int nb = k / BLOCK;
    float *sums = scratch(7, (size_t)rows * nb * 8);
    for (int j = 0; j < rows; j++)
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)j * k + BLOCK * b;
            _mm256_storeu_ps(sums + ((size_t)j * nb + b) * 8,
                             _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                           _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24))));
        }
    return sums;
#endif
}

static void matmul_groups(const packed_matrix *w, const float *in, const float *xsums, int rows, int first,
                          int count, float *y, int add) {
    const int nb = w->k / BLOCK;
    for (int g = 0; g < rows; g += ROW_GROUP) {  /* more rows than fit in registers: another pass */
        const int M = rows - g < ROW_GROUP ? rows - g : ROW_GROUP;
        const float *x = in + (size_t)g * w->k, *xs = xsums ? xsums + (size_t)g * nb * 8 : NULL;
        float *out = y + (size_t)g * w->n;
        (void)xs;  /* only the AVX2 Q4_1 kernel takes block sums */
        if (w->kind == KIND_Q4_1) {
            BY_ROWS(Q4_1, M, x, w->k, w->rows, xs, first, count, out, w->n, add)
        } else {
            BY_ROWS(Q8_0, M, x, w->k, w->rows, xs, first, count, out, w->n, add)
        }
    }
}

void matmul_rows(const packed_matrix *w, const float *in, int rows, int first, int count, float *y, int add) {
    matmul_groups(w, in, w->kind == KIND_Q4_1 ? block_sums(in, rows, w->k) : NULL, rows, first, count, y, add);
}

void silu_gate_rows(const float *x, int rows, int k, float *out) {
    for (int j = 0; j < rows; j++) {
        const float *g = x + (size_t)j * 2 * k, *u = g + k;
        float *o = out + (size_t)j * k;
        for (int i = 0; i < k; i += 8) {
            const __m256 gi = _mm256_loadu_ps(g + i);
            const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_setzero_ps(), gi));
            _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_div_ps(gi, _mm256_add_ps(_mm256_set1_ps(1.0f), e)),
                                                  _mm256_loadu_ps(u + i)));
        }
    }
}

void rms_norm_rows(const float *x, int rows, int k, const float *norm_w, float eps, float *out) {
    for (int j = 0; j < rows; j++) {
        const float *xj = x + (size_t)j * k;
        float *o = out + (size_t)j * k;
        __m256 ss = _mm256_setzero_ps();
        for (int i = 0; i < k; i += 8) {
            const __m256 v = _mm256_loadu_ps(xj + i);
            ss = _mm256_fmadd_ps(v, v, ss);
        }
        const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(hsum256(ss) / (float)k + eps));
        for (int i = 0; i < k; i += 8)
            _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xj + i), scale),
                                                  _mm256_loadu_ps(norm_w + i)));
    }
}

typedef struct {
    const packed_matrix *w;
    const float *in, *xsums;
    int rows, add;
    float *y;
} matmul_task;

static void matmul_range(void *ctx, int first, int count) {
    const matmul_task *t = ctx;
    matmul_groups(t->w, t->in, t->xsums, t->rows, first, count, t->y, t->add);
}

void parallel_matmul(const packed_matrix *w, const float *in, int rows, float *y, int add) {
    matmul_task t = {w, in, w->kind == KIND_Q4_1 ? block_sums(in, rows, w->k) : NULL, rows, add, y};
    const size_t bytes = packed_row_bytes(w->kind, w->k);
    const int chunk = bytes >= 65536 ? 1 : (int)(65536 / bytes);  /* ~64 KB of weights per claim */
    run_parallel(w->n, chunk, matmul_range, &t);
}

int block_kernels_max_rows(void) { return MAX_ROWS; }

/* y [M, N] (+)= prepare(x) @ w.T for w [N, K] in packed rows of `kind` (0: Q4_1, 1: Q8_0).
   x is [M, K], or [M, 2K] when gated; norm_w (RMSNorm weight, [K]) may be NULL; add: y += instead of y =. */
int block_matmul(int kind, const float *x, int M, int K, const uint8_t *rows, int N, float *y,
                 const float *norm_w, float eps, int gated, int add) {
    if (K % 32 || K / BLOCK > MAX_BLOCKS || M < 1 || M > MAX_ROWS || (kind != KIND_Q4_1 && kind != KIND_Q8_0))
        return -1;
    const packed_matrix w = {kind, K, N, rows};
    const float *in = x;
    if (norm_w || gated) {
        float *prepared = scratch(0, (size_t)M * K);
        if (gated)
            silu_gate_rows(x, M, K, prepared);
        else
            rms_norm_rows(x, M, K, norm_w, eps, prepared);
        in = prepared;
    }
    parallel_matmul(&w, in, M, y, add);
    return 0;
}
