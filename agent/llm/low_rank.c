/* A LoRA adapter's low-rank products beside the block kernels (x86-64, AVX2 + FMA).

   For each of the M rows of x: h = the matrix's input (x itself, RMSNorm(x) * g, or SiLU(x[:K]) * x[K:2K]),
   t = A h (A [R, K], R = S * r: the r-rank factors of S fused matrices stacked), and for output j of segment s,
   y[j] += B[j] . t[s r .. s r + r] (B [N, r], the adapter's scale folded in). A and B are bfloat16: a decode
   step is bound by the bytes it streams, and the adapter's float32 factors would add a fifth to the base
   model's Q4_1 blocks. Compiled at first use by agent/llm/low_rank.py. */
#include <math.h>
#include <stdint.h>
#include <immintrin.h>

#define MAX_WIDTH 16384

static inline __m256 load_bf16(const uint16_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* sum of w[i] * h[i] for n a multiple of 16, two accumulator chains */
static inline float dot_bf16(const uint16_t *w, const float *h, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        s0 = _mm256_fmadd_ps(load_bf16(w + i), _mm256_loadu_ps(h + i), s0);
        s1 = _mm256_fmadd_ps(load_bf16(w + i + 8), _mm256_loadu_ps(h + i + 8), s1);
    }
    return hsum(_mm256_add_ps(s0, s1));
}

static void matrix_input(const float *x, int k, const float *norm, float eps, int gated, float *h) {
    if (gated) {
        for (int i = 0; i < k; i++) {
            const float g = x[i];
            h[i] = g / (1.0f + expf(-g)) * x[k + i];
        }
    } else if (norm) {
        double squares = 0.0;
        for (int i = 0; i < k; i++)
            squares += (double)x[i] * x[i];
        const float inv = 1.0f / sqrtf((float)(squares / k) + eps);
        for (int i = 0; i < k; i++)
            h[i] = x[i] * inv * norm[i];
    } else {
        for (int i = 0; i < k; i++)
            h[i] = x[i];
    }
}

int low_rank_rank_multiple(void) { return 16; }

/* 0 on success; -1 when a size is outside what this kernel takes (the caller falls back to torch). */
int low_rank_add(const float *x, int rows, int k, const float *norm, float eps, int gated, const uint16_t *a,
                 int rank, int segments, const uint16_t *b, const int *segment_end, int n, float *y) {
    float h[MAX_WIDTH], t[1024];
    if (k % 16 || rank % 16 || k > MAX_WIDTH || rank * segments > 1024 || segments < 1)
        return -1;
    const int width = gated ? 2 * k : k;
    for (int m = 0; m < rows; m++) {
        matrix_input(x + (long)m * width, k, norm, eps, gated, h);
        for (int j = 0; j < rank * segments; j++)
            t[j] = dot_bf16(a + (long)j * k, h, k);
        float *out = y + (long)m * n;
        int j = 0;
        for (int s = 0; s < segments; s++) {
            const float *ts = t + s * rank;
            for (; j < segment_end[s]; j++)
                out[j] += dot_bf16(b + (long)j * rank, ts, rank);
        }
    }
    return 0;
}
