/* A LoRA adapter's low-rank products beside the block kernels (x86-64, AVX2 + FMA).

   For each of the M rows of x: h = the matrix's input (x itself, RMSNorm(x) * g, or SiLU(x[:K]) * x[K:2K]),
   t = A h (A [S r, K]: the rank-r factors of the S matrices a fused matrix stacks), and for the outputs j of
   segment s, y[j] += sum over i < r of t[s r + i] * Bt[i, j] (Bt [r, N], the adapter's scale folded in).
   Bt is stored transposed so that y is updated 8 outputs at a time with no horizontal sums. A and Bt are int8
   with a float scale per row of A and per output (column of Bt): a decode step is bound by the bytes it
   streams, and the factors in float32 would add a fifth to the base model's Q4_1 blocks (bfloat16: 9%,
   int8: 4.5%). Compiled at first use by agent/llm/low_rank.py. */
#include <math.h>
#include <stdint.h>
#include <immintrin.h>

#include "block_kernels.h" /* hsum256, exp_lanes */

#define MAX_WIDTH 16384
#define MAX_RANKS 1024

static inline __m256 load_i8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}


/* h = the input of the matrix (k a multiple of 8) */
static void matrix_input(const float *x, int k, const float *norm, float eps, int gated, float *h) {
    if (gated) {
        const __m256 one = _mm256_set1_ps(1.0f);
        for (int i = 0; i < k; i += 8) {
            const __m256 g = _mm256_loadu_ps(x + i);
            const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp_lanes(_mm256_sub_ps(_mm256_setzero_ps(), g))));
            _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(x + k + i)));
        }
    } else if (norm) {
        __m256 squares = _mm256_setzero_ps();
        for (int i = 0; i < k; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            squares = _mm256_fmadd_ps(v, v, squares);
        }
        const __m256 inv = _mm256_set1_ps(1.0f / sqrtf(hsum256(squares) / k + eps));
        for (int i = 0; i < k; i += 8)
            _mm256_storeu_ps(h + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv), _mm256_loadu_ps(norm + i)));
    } else {
        for (int i = 0; i < k; i++)
            h[i] = x[i];
    }
}

/* sum of w[i] * h[i], n a multiple of 16 */
static inline float dot_i8(const int8_t *w, const float *h, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        s0 = _mm256_fmadd_ps(load_i8(w + i), _mm256_loadu_ps(h + i), s0);
        s1 = _mm256_fmadd_ps(load_i8(w + i + 8), _mm256_loadu_ps(h + i + 8), s1);
    }
    return hsum256(_mm256_add_ps(s0, s1));
}

int low_rank_version(void) { return 4; }

/* One matrix's factors, as low_rank_add takes them (and as agent/llm/low_rank.py's LowRankFactors holds them). */
typedef struct {
    const int8_t *a;
    const float *a_scale;
    int rank, segments;
    const int8_t *bt;
    const float *b_scale;
    const int *segment_end;
    int k, n;
} low_rank_factors;

static int fits(const low_rank_factors *f) {
    if (f->k % 16 || f->rank % 16 || f->n % 8 || f->k > MAX_WIDTH || f->rank * f->segments > MAX_RANKS ||
        f->segments < 1 || f->segment_end[f->segments - 1] != f->n)
        return 0;
    for (int s = 0; s < f->segments; s++)
        if (f->segment_end[s] % 8)
            return 0;
    return 1;
}

/* y [n] += B (A h) for one row's input h [k] */
static void add_row(const low_rank_factors *f, const float *h, float *y) {
    float t[MAX_RANKS];
    for (int j = 0; j < f->rank * f->segments; j++)
        t[j] = f->a_scale[j] * dot_i8(f->a + (long)j * f->k, h, f->k);
    int begin = 0;
    for (int s = 0; s < f->segments; s++) {
        const float *ts = t + s * f->rank;
        for (int j = begin; j < f->segment_end[s]; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int i = 0; i < f->rank; i++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(ts[i]), load_i8(f->bt + (long)i * f->n + j), acc);
            _mm256_storeu_ps(y + j, _mm256_fmadd_ps(acc, _mm256_loadu_ps(f->b_scale + j), _mm256_loadu_ps(y + j)));
        }
        begin = f->segment_end[s];
    }
}

/* The fused decode step's hook (decode_step.c's matrix_adapter.add): h [rows, k] is the matrix's input as the
   step computed it (normed or gated already); y [rows, n] += its low-rank product. 0, or -1 for sizes it
   cannot take. */
int low_rank_apply(const void *ctx, const float *h, int rows, float *y) {
    const low_rank_factors *f = ctx;
    if (!fits(f))
        return -1;
    for (int m = 0; m < rows; m++)
        add_row(f, h + (long)m * f->k, y + (long)m * f->n);
    return 0;
}

/* 0 on success; -1 when a size is outside what this kernel takes (the caller then uses torch). Segment ends
   and N must be multiples of 8, K and the rank multiples of 16. x is the matrix's input before its RMSNorm
   (norm given) or SiLU(gate) * up (gated: x [rows, 2k]). */
int low_rank_add(const float *x, int rows, int k, const float *norm, float eps, int gated, const int8_t *a,
                 const float *a_scale, int rank, int segments, const int8_t *bt, const float *b_scale,
                 const int *segment_end, int n, float *y) {
    float h[MAX_WIDTH];
    const low_rank_factors f = {a, a_scale, rank, segments, bt, b_scale, segment_end, k, n};
    if (!fits(&f))
        return -1;
    const int width = gated ? 2 * k : k;
    for (int m = 0; m < rows; m++) {
        matrix_input(x + (long)m * width, k, norm, eps, gated, h);
        add_row(&f, h, y + (long)m * n);
    }
    return 0;
}
