/* Matrix products with weights kept in GGUF's Q4_1 / Q8_0 blocks and float32 activations (x86-64, AVX2 + FMA).

   y[m, r] = sum over k of x[m, k] * w[r, k] for the M (1..8 per call) rows of x, where row r of w is stored as
   blocks of 32 weights along k:
     Q4_1: w = d * q + min, q in 0..15 (16 bytes of nibbles: low nibble = element j, high = element j + 16);
     Q8_0: w = d * q,       q in -127..127 (32 bytes).
   Every weight value is the one the float32 checkpoint holds; only the summation order differs from a dense
   float32 product. A decode step reads 5-8x fewer bytes of weights than float32 does, and that is the point:
   one token of a small model is memory-bound. The input can first go through what precedes each matrix in a
   llama layer (RMSNorm, or SiLU(gate) * up), and the product can be added to y (the residual), which saves
   small tensor ops per token; `decode_attention` does the same for rotary + cache writes + attention.
   Compiled at first use by agent/llm/block_kernels.py. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <immintrin.h>

#define MAX_ROWS 8

static inline float hsum(__m256 v) {
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

/* the four horizontal sums of a, b, c, d */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* sum over 32 elements of f[i] * x[i], as 8 lanes */
#define DOT32(f, xb) _mm256_fmadd_ps((f)[3], _mm256_loadu_ps((xb) + 24), _mm256_fmadd_ps((f)[2], \
    _mm256_loadu_ps((xb) + 16), _mm256_fmadd_ps((f)[1], _mm256_loadu_ps((xb) + 8), \
    _mm256_mul_ps((f)[0], _mm256_loadu_ps(xb)))))

static inline __attribute__((always_inline)) void unpack_q4(const uint8_t *p, __m256 *f) {
    const __m128i low = _mm_set1_epi8(0x0F);
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i lo = _mm_and_si128(v, low), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low);
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
}

static inline __attribute__((always_inline)) void unpack_q8(const int8_t *p, __m256 *f) {
    for (int i = 0; i < 4; i++)
        f[i] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * i))));
}

/* Q4_1: y [M, N] (+)= x [M, K] @ w.T for q [N, K/32, 16], d and mins [N, K/32], two rows of w at a time (the
   x loads are shared and the two chains independent: 9.8 vs 11.2 ms for a token's layers, against one row
   with a separate pass for the min term). The min term is added per block as min * (x's block sum, as 8
   lanes in xsums [M, nb, 8]). An odd last row is paired with itself. */
static inline __attribute__((always_inline)) void q4_1_rows(const float *x, const int M, int K, const uint8_t *q,
                                                           const float *d, const float *mins, const float *xsums,
                                                           int N, float *y, int add) {
    const int nb = K / 32;
    for (int r = 0; r < N; r += 2) {
        const int r2 = r + 1 < N ? r + 1 : r;
        __m256 acc[MAX_ROWS], acc2[MAX_ROWS];
        for (int m = 0; m < M; m++) acc[m] = acc2[m] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            __m256 f[4], g[4];
            unpack_q4(q + ((size_t)r * nb + b) * 16, f);
            unpack_q4(q + ((size_t)r2 * nb + b) * 16, g);
            const __m256 d0 = _mm256_broadcast_ss(d + (size_t)r * nb + b);
            const __m256 d1 = _mm256_broadcast_ss(d + (size_t)r2 * nb + b);
            const __m256 min0 = _mm256_broadcast_ss(mins + (size_t)r * nb + b);
            const __m256 min1 = _mm256_broadcast_ss(mins + (size_t)r2 * nb + b);
            for (int m = 0; m < M; m++) {
                const float *xb = x + (size_t)m * K + 32 * b;
                const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
                const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
                const __m256 xs = _mm256_loadu_ps(xsums + ((size_t)m * nb + b) * 8);
                const __m256 t = _mm256_fmadd_ps(f[3], x3, _mm256_fmadd_ps(f[2], x2,
                                                 _mm256_fmadd_ps(f[1], x1, _mm256_mul_ps(f[0], x0))));
                const __m256 u = _mm256_fmadd_ps(g[3], x3, _mm256_fmadd_ps(g[2], x2,
                                                 _mm256_fmadd_ps(g[1], x1, _mm256_mul_ps(g[0], x0))));
                acc[m] = _mm256_fmadd_ps(min0, xs, _mm256_fmadd_ps(d0, t, acc[m]));
                acc2[m] = _mm256_fmadd_ps(min1, xs, _mm256_fmadd_ps(d1, u, acc2[m]));
            }
        }
        for (int m = 0; m < M; m++) {
            float *out = y + (size_t)m * N;
            out[r] = (add ? out[r] : 0.0f) + hsum(acc[m]);
            if (r2 != r) out[r2] = (add ? out[r2] : 0.0f) + hsum(acc2[m]);
        }
    }
}

/* Q8_0 one row at a time, blocks alternating between two accumulators: faster here than row pairs
   (2.5-2.9 vs 4.6-5.5 ms for the 49152-row output projection), unlike Q4_1. */
static inline __attribute__((always_inline)) void q8_0_rows(const float *x, const int M, int K, const int8_t *q,
                                                           const float *d, int N, float *y, int add) {
    const int nb = K / 32;
    for (int r = 0; r < N; r++) {
        const int8_t *qr = q + (size_t)r * K;
        const float *dr = d + (size_t)r * nb;
        __m256 even[MAX_ROWS], odd[MAX_ROWS];
        for (int m = 0; m < M; m++) even[m] = odd[m] = _mm256_setzero_ps();
        int b = 0;
        for (; b + 1 < nb; b += 2) {
            __m256 f[4], g[4];
            unpack_q8(qr + 32 * b, f);
            unpack_q8(qr + 32 * b + 32, g);
            const __m256 d0 = _mm256_broadcast_ss(dr + b), d1 = _mm256_broadcast_ss(dr + b + 1);
            for (int m = 0; m < M; m++) {
                const float *xb = x + (size_t)m * K + 32 * b;
                even[m] = _mm256_fmadd_ps(d0, DOT32(f, xb), even[m]);
                odd[m] = _mm256_fmadd_ps(d1, DOT32(g, xb + 32), odd[m]);
            }
        }
        if (b < nb) {
            __m256 f[4];
            unpack_q8(qr + 32 * b, f);
            const __m256 d0 = _mm256_broadcast_ss(dr + b);
            for (int m = 0; m < M; m++)
                even[m] = _mm256_fmadd_ps(d0, DOT32(f, x + (size_t)m * K + 32 * b), even[m]);
        }
        for (int m = 0; m < M; m++) {
            float *out = y + (size_t)m * N + r;
            *out = (add ? *out : 0.0f) + hsum(_mm256_add_ps(even[m], odd[m]));
        }
    }
}

/* The input row a matrix of a llama layer takes: RMSNorm(x) * norm_w, or SiLU(gate) * up for x = gate|up. */
static void prepare_rows(const float *x, int M, int K, const float *norm_w, float eps, int gated, float *out) {
    for (int m = 0; m < M; m++) {
        float *o = out + (size_t)m * K;
        if (gated) {
            const float *g = x + (size_t)m * 2 * K, *u = g + K;
            for (int k = 0; k < K; k += 8) {
                const __m256 gk = _mm256_loadu_ps(g + k);
                const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_setzero_ps(), gk));
                _mm256_storeu_ps(o + k, _mm256_mul_ps(_mm256_div_ps(gk, _mm256_add_ps(_mm256_set1_ps(1.0f), e)),
                                                      _mm256_loadu_ps(u + k)));
            }
        } else {
            const float *xm = x + (size_t)m * K;
            __m256 ss = _mm256_setzero_ps();
            for (int k = 0; k < K; k += 8) {
                const __m256 v = _mm256_loadu_ps(xm + k);
                ss = _mm256_fmadd_ps(v, v, ss);
            }
            const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(hsum(ss) / (float)K + eps));
            for (int k = 0; k < K; k += 8)
                _mm256_storeu_ps(o + k, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xm + k), scale),
                                                      _mm256_loadu_ps(norm_w + k)));
        }
    }
}

/* One copy of each kernel per row count, so that the accumulators live in registers. */
#define BY_ROWS(F, ...) switch (M) { \
    case 1: F(in, 1, __VA_ARGS__); break; case 2: F(in, 2, __VA_ARGS__); break; \
    case 3: F(in, 3, __VA_ARGS__); break; case 4: F(in, 4, __VA_ARGS__); break; \
    case 5: F(in, 5, __VA_ARGS__); break; case 6: F(in, 6, __VA_ARGS__); break; \
    case 7: F(in, 7, __VA_ARGS__); break; default: F(in, 8, __VA_ARGS__); }

int block_kernels_max_rows(void) { return MAX_ROWS; }

/* y[M, N] (+)= prepare(x) @ w.T for w [N, K] in blocks of `kind` (0: Q4_1 with mins, 1: Q8_0).
   x is [M, K], or [M, 2K] when gated; norm_w (RMSNorm weight, [K]) may be NULL; add: y += instead of y =.
   Returns 0, or -1 for arguments it cannot take. */
int block_matmul(int kind, const float *x, int M, int K, const void *q, const float *d, const float *mins,
                 int N, float *y, const float *norm_w, float eps, int gated, int add) {
    if (K % 32 || M < 1 || M > MAX_ROWS || (kind != 0 && kind != 1)) return -1;
    const int nb = K / 32;
    /* prepared input rows [M, K], then x's block sums as 8 lanes [M, nb, 8] (for Q4_1's min term) */
    float *buffer = aligned_alloc(32, (size_t)M * K * sizeof(float) + (size_t)M * nb * 8 * sizeof(float));
    if (!buffer) return -1;
    const float *in = x;
    if (norm_w || gated) {
        prepare_rows(x, M, K, norm_w, eps, gated, buffer);
        in = buffer;
    }
    float *xsums = buffer + (size_t)M * K;
    if (kind == 0) {
        for (int m = 0; m < M; m++)
            for (int b = 0; b < nb; b++) {
                const float *xb = in + (size_t)m * K + 32 * b;
                _mm256_storeu_ps(xsums + ((size_t)m * nb + b) * 8,
                                 _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                               _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24))));
            }
        BY_ROWS(q4_1_rows, K, (const uint8_t *)q, d, mins, xsums, N, y, add)
    } else {
        BY_ROWS(q8_0_rows, K, (const int8_t *)q, d, N, y, add)
    }
    free(buffer);
    return 0;
}

/* Attention of M new tokens (positions start..start+M-1) in one llama layer, in place of rotary + cache
   writes + SDPA, which cost ~15 small tensor ops per layer for a one-token step.
   qkv [M, (H + 2 KV) hd]: q|k|v as the qkv matrix wrote them (q and k with rotary pairs adjacent);
   rope [capacity, hd/2] complex (cos, sin) pairs; k_cache, v_cache: this layer's [KV, capacity, hd];
   out [M, H hd]. Query m sees keys 0..start+m. hd must be a multiple of 8. */
int decode_attention(const float *qkv, int M, int start, int H, int KV, int hd, int capacity, const float *rope,
                     float *k_cache, float *v_cache, float *out) {
    if (hd % 8 || M < 1 || M > MAX_ROWS || H % KV || start + M > capacity) return -1;
    const int width = (H + 2 * KV) * hd, group = H / KV, end = start + M;
    float *q = aligned_alloc(32, (size_t)M * H * hd * sizeof(float) + 32);
    float *scores = aligned_alloc(32, ((size_t)end * sizeof(float) + 31) / 32 * 32);
    if (!q || !scores) { free(q); free(scores); return -1; }
    for (int m = 0; m < M; m++) {  /* rotate q and k (one complex multiply per pair), store k and v */
        const int pos = start + m;
        const float *row = qkv + (size_t)m * width, *rot = rope + (size_t)pos * hd;
        for (int h = 0; h < H + KV; h++) {
            float *dst = h < H ? q + ((size_t)m * H + h) * hd : k_cache + ((size_t)(h - H) * capacity + pos) * hd;
            const float *src = row + (size_t)h * hd;
            for (int i = 0; i < hd; i += 2) {
                const float a = src[i], b = src[i + 1], c = rot[i], s = rot[i + 1];
                dst[i] = a * c - b * s;
                dst[i + 1] = a * s + b * c;
            }
        }
        for (int g = 0; g < KV; g++) {
            const float *src = row + (size_t)(H + KV + g) * hd;
            float *dst = v_cache + ((size_t)g * capacity + pos) * hd;
            for (int i = 0; i < hd; i++) dst[i] = src[i];
        }
    }
    const float scale = 1.0f / sqrtf((float)hd);
    for (int m = 0; m < M; m++) {
        const int keys = start + m + 1;
        for (int h = 0; h < H; h++) {
            const float *qh = q + ((size_t)m * H + h) * hd;
            const float *kh = k_cache + (size_t)(h / group) * capacity * hd;
            const float *vh = v_cache + (size_t)(h / group) * capacity * hd;
            float top = -INFINITY;
            int j = 0;
            for (; j + 4 <= keys; j += 4) {  /* four keys at a time: four independent FMA chains */
                const float *k0 = kh + (size_t)j * hd;
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                for (int i = 0; i < hd; i += 8) {
                    const __m256 qi = _mm256_loadu_ps(qh + i);
                    a0 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + i), a0);
                    a1 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + hd + i), a1);
                    a2 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + 2 * hd + i), a2);
                    a3 = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k0 + 3 * hd + i), a3);
                }
                _mm_storeu_ps(scores + j, _mm_mul_ps(hsum4(a0, a1, a2, a3), _mm_set1_ps(scale)));
            }
            for (; j < keys; j++) {
                __m256 acc = _mm256_setzero_ps();
                for (int i = 0; i < hd; i += 8)
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_loadu_ps(kh + (size_t)j * hd + i), acc);
                scores[j] = hsum(acc) * scale;
            }
            for (j = 0; j < keys; j++) top = scores[j] > top ? scores[j] : top;
            __m256 sums = _mm256_setzero_ps();
            for (j = 0; j + 8 <= keys; j += 8) {
                const __m256 p = exp_lanes(_mm256_sub_ps(_mm256_loadu_ps(scores + j), _mm256_set1_ps(top)));
                _mm256_storeu_ps(scores + j, p);
                sums = _mm256_add_ps(sums, p);
            }
            float total = hsum(sums);
            for (; j < keys; j++) total += scores[j] = expf(scores[j] - top);
            const __m256 norm = _mm256_set1_ps(1.0f / total);
            float *oh = out + ((size_t)m * H + h) * hd;
            for (int i0 = 0; i0 < hd; i0 += 64) {  /* up to 8 accumulators of output dims, one pass over v */
                const int lanes = (hd - i0 < 64 ? hd - i0 : 64) / 8;
                __m256 acc[8];
                for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
                if (lanes == 8) {
                    for (j = 0; j < keys; j++) {
                        const __m256 p = _mm256_set1_ps(scores[j]);
                        const float *vj = vh + (size_t)j * hd + i0;
                        for (int c = 0; c < 8; c++) acc[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), acc[c]);
                    }
                } else {
                    for (j = 0; j < keys; j++) {
                        const __m256 p = _mm256_set1_ps(scores[j]);
                        const float *vj = vh + (size_t)j * hd + i0;
                        for (int c = 0; c < lanes; c++) acc[c] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * c), acc[c]);
                    }
                }
                for (int c = 0; c < lanes; c++) _mm256_storeu_ps(oh + i0 + 8 * c, _mm256_mul_ps(acc[c], norm));
            }
        }
    }
    free(q);
    free(scores);
    return 0;
}
