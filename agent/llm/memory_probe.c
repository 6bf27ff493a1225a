/* A STREAM-style memory bandwidth probe on the kernels' threads: what one decode step could read at most.

   memory_bandwidth(op, bytes, reps): arrays of `bytes` each, best of `reps` passes, in GB/s (1e9 bytes/s),
   counting bytes as STREAM does: read (sum of a) 1 array, copy (b = a) 2, triad (a = b + s * c) 3.
   Each pass is split in 1 MiB pieces over the threads (kernel_threads). -1 when the arrays cannot be had. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block_kernels.h"

#define PIECE (1 << 18) /* floats: 1 MiB */

typedef struct {
    int op;
    float *a, *b, *c;
    float sums[64];
} probe;

static void pass(void *ctx, int first, int count) {
    probe *p = ctx;
    const size_t begin = (size_t)first * PIECE, end = (size_t)(first + count) * PIECE;
    if (p->op == 0) {
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t i = begin; i < end; i += 32) {
            s0 = _mm256_add_ps(s0, _mm256_load_ps(p->a + i));
            s1 = _mm256_add_ps(s1, _mm256_load_ps(p->a + i + 8));
            s2 = _mm256_add_ps(s2, _mm256_load_ps(p->a + i + 16));
            s3 = _mm256_add_ps(s3, _mm256_load_ps(p->a + i + 24));
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        p->sums[first % 64] = lanes[0];  /* keeps the loads; the value is never used */
    } else if (p->op == 1) {
        for (size_t i = begin; i < end; i += 8) _mm256_store_ps(p->b + i, _mm256_load_ps(p->a + i));
    } else {
        const __m256 s = _mm256_set1_ps(3.0f);
        for (size_t i = begin; i < end; i += 8)
            _mm256_store_ps(p->a + i, _mm256_fmadd_ps(s, _mm256_load_ps(p->c + i), _mm256_load_ps(p->b + i)));
    }
}

static void fill(void *ctx, int first, int count) {  /* first touch on the threads that will read */
    probe *p = ctx;
    const size_t begin = (size_t)first * PIECE, n = (size_t)count * PIECE;
    for (size_t i = begin; i < begin + n; i++) p->a[i] = p->b[i] = p->c[i] = 1.0f;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double memory_bandwidth(int op, size_t bytes, int reps) {
    const int pieces = (int)(bytes / (PIECE * sizeof(float)));
    if (pieces < 1 || op < 0 || op > 2 || reps < 1) return -1.0;
    const size_t size = (size_t)pieces * PIECE * sizeof(float);
    probe p = {op, aligned_alloc(64, size), aligned_alloc(64, size), aligned_alloc(64, size), {0}};
    double best = -1.0;
    if (p.a && p.b && p.c) {
        run_parallel(pieces, 1, fill, &p);
        for (int r = 0; r < reps; r++) {
            const double started = seconds();
            run_parallel(pieces, 1, pass, &p);
            const double rate = (double)size * (op == 0 ? 1 : op == 1 ? 2 : 3) / (seconds() - started) / 1e9;
            if (rate > best) best = rate;
        }
    }
    free(p.a);
    free(p.b);
    free(p.c);
    return best;
}
