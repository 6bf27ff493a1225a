/* Attention of a few new tokens (M, positions start..start+M-1) in one llama layer: rotary, the KV cache
   writes, then causal attention over the cache, in place of ~15 small tensor ops per layer.

   qkv [M, (H + 2 KV) hd]: q|k|v as the qkv matrix wrote them (q and k with rotary pairs adjacent);
   rope [capacity, hd/2] (cos, sin) pairs; k_cache, v_cache: the layer's [KV, capacity, hd]; out [M, H hd].
   Query m sees keys 0..start+m. hd must be a multiple of 8.

   At a long context this is a stream through the whole cache (46 KB a position for the default model), so
   it is cut into items of (KV head, block of 64 keys), as in flash-decoding: an item scores its keys for
   every query head of the group and every new token, takes e^(s - its max), and sums the values, reading
   its 16 KB of keys and 16 KB of values once, with the next ones prefetched. The items' partial sums are
   then merged per query in block order. Each item is one thread's, so the result is the same whatever
   the thread count. */
#include <math.h>

#include "block_kernels.h"

#define KEY_BLOCK 64
#define AHEAD 16 /* key rows prefetched ahead: 4 KB for the default model */

typedef struct {
    const float *q, *k_cache, *v_cache;
    float *partial;  /* per item: sums [Q, hd], then max [Q] and total [Q]; Q = group * rows */
    int rows, start, heads, kv_heads, hd, capacity, end, group, key_blocks;
} attention_job;

/* the eight horizontal sums of a[0..7], as one vector */
static inline __m256 hsum8(const __m256 *a) {
    const __m256 s0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    const __m256 s1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(s0, s1, 0x20), _mm256_permute2f128_ps(s0, s1, 0x31));
}

static inline void prefetch_rows(const float *rows, int hd) {
    for (int i = 0; i < hd; i += 16) _mm_prefetch((const char *)(rows + i), _MM_HINT_T0);
}

/* scores [Q, KEY_BLOCK] of keys j0..j1-1 for the Q queries of KV head g */
static void score_keys8(const attention_job *a, const float *keys, const float *values, int g, int j0, int j1,
                       float *scores) {
    const float scale = 1.0f / sqrtf((float)a->hd);
    const int Q = a->group * a->rows;
    for (int j = j0; j < j1; j += 8) {
        const int n = j1 - j < 8 ? j1 - j : 8;
        const float *k = keys + (size_t)j * a->hd;
        for (int t = 0; t < n; t++) {  /* the next keys, and these keys' values, for after the scores */
            if (j + AHEAD + t < a->end) prefetch_rows(k + (size_t)(AHEAD + t) * a->hd, a->hd);
            prefetch_rows(values + (size_t)(j + t) * a->hd, a->hd);
        }
        for (int query = 0; query < Q; query++) {
            const int h = g * a->group + query / a->rows, m = query % a->rows;
            const float *q = a->q + ((size_t)m * a->heads + h) * a->hd;
            float *s = scores + (size_t)query * KEY_BLOCK + (j - j0);
            if (n == 8) {  /* eight keys: eight independent FMA chains */
                __m256 acc[8];
                for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
                for (int i = 0; i < a->hd; i += 8) {
                    const __m256 qi = _mm256_loadu_ps(q + i);
                    for (int t = 0; t < 8; t++)
                        acc[t] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(k + (size_t)t * a->hd + i), acc[t]);
                }
                _mm256_storeu_ps(s, _mm256_mul_ps(hsum8(acc), _mm256_set1_ps(scale)));
            } else {
                for (int t = 0; t < n; t++) {
                    __m256 acc = _mm256_setzero_ps();
                    for (int i = 0; i < a->hd; i += 8)
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + (size_t)t * a->hd + i), acc);
                    s[t] = hsum256(acc) * scale;
                }
            }
        }
    }
}

/* sums[hd] = sum over the block's keys of p[j] * v[j], for one query */
static void sum_values8(const attention_job *a, const float *values, int j0, int j1, const float *p, float *sums) {
    for (int i0 = 0; i0 < a->hd; i0 += 64) {  /* up to 8 accumulators of output dims, one pass over v */
        const int lanes = (a->hd - i0 < 64 ? a->hd - i0 : 64) / 8;
        __m256 acc[8];
        for (int c = 0; c < 8; c++) acc[c] = _mm256_setzero_ps();
        for (int j = j0; j < j1; j++) {
            const __m256 w = _mm256_broadcast_ss(p + (j - j0));
            const float *v = values + (size_t)j * a->hd + i0;
            if (lanes == 8)
                for (int c = 0; c < 8; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * c), acc[c]);
            else
                for (int c = 0; c < lanes; c++) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8 * c), acc[c]);
        }
        for (int c = 0; c < lanes; c++) _mm256_storeu_ps(sums + i0 + 8 * c, acc[c]);
    }
}


#ifdef __AVX512F__
/* the sixteen horizontal sums of a[0..15], as one vector (45 ops against 16 reductions of ~8) */
static inline __m512 hsum16(const __m512 *a) {
    __m512 b[8], c[4];
    for (int i = 0; i < 8; i++)
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++) {
        const __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    const __m512 e0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
    const __m512 e1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88), _mm512_shuffle_f32x4(e0, e1, 0xDD));
}

/* as score_keys8, sixteen keys at a time in 16-lane vectors (hd a multiple of 16) */
static void score_keys16(const attention_job *a, const float *keys, const float *values, int g, int j0, int j1,
                         float *scores) {
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)a->hd));
    const int Q = a->group * a->rows;
    for (int j = j0; j < j1; j += 16) {
        const int n = j1 - j < 16 ? j1 - j : 16;
        const float *k = keys + (size_t)j * a->hd;
        for (int t = 0; t < n; t++) {
            if (j + AHEAD + t < a->end) prefetch_rows(k + (size_t)(AHEAD + t) * a->hd, a->hd);
            prefetch_rows(values + (size_t)(j + t) * a->hd, a->hd);
        }
        for (int query = 0; query < Q; query++) {
            const int h = g * a->group + query / a->rows, m = query % a->rows;
            const float *q = a->q + ((size_t)m * a->heads + h) * a->hd;
            __m512 acc[16];
            for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
            if (n == 16) {
                for (int i = 0; i < a->hd; i += 16) {
                    const __m512 qi = _mm512_loadu_ps(q + i);
                    for (int t = 0; t < 16; t++)
                        acc[t] = _mm512_fmadd_ps(qi, _mm512_loadu_ps(k + (size_t)t * a->hd + i), acc[t]);
                }
            } else {
                for (int t = 0; t < n; t++)
                    for (int i = 0; i < a->hd; i += 16)
                        acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + (size_t)t * a->hd + i), acc[t]);
            }
            _mm512_mask_storeu_ps(scores + (size_t)query * KEY_BLOCK + (j - j0), (__mmask16)((1u << n) - 1),
                                  _mm512_mul_ps(hsum16(acc), scale));
        }
    }
}

/* sums[Q, hd] for all Q queries in one pass over the block's values: up to 6 queries x 64 dims at a time */
static void sum_values16(const attention_job *a, const float *values, int j0, int j1, const float *p, float *sums) {
    const int Q = a->group * a->rows;
    for (int d0 = 0; d0 < a->hd; d0 += 64) {
        const int lanes = (a->hd - d0 < 64 ? a->hd - d0 : 64) / 16;
        for (int q0 = 0; q0 < Q; q0 += 6) {
            const int T = Q - q0 < 6 ? Q - q0 : 6;
            __m512 acc[6][4];
            for (int t = 0; t < 6; t++)
                for (int c = 0; c < 4; c++) acc[t][c] = _mm512_setzero_ps();
            for (int j = j0; j < j1; j++) {
                const float *v = values + (size_t)j * a->hd + d0;
                __m512 vc[4];
                for (int c = 0; c < 4; c++) vc[c] = c < lanes ? _mm512_loadu_ps(v + 16 * c) : _mm512_setzero_ps();
                for (int t = 0; t < T; t++) {
                    const __m512 w = _mm512_set1_ps(p[(size_t)(q0 + t) * KEY_BLOCK + (j - j0)]);
                    for (int c = 0; c < 4; c++) acc[t][c] = _mm512_fmadd_ps(w, vc[c], acc[t][c]);
                }
            }
            for (int t = 0; t < T; t++)
                for (int c = 0; c < lanes; c++) _mm512_storeu_ps(sums + (size_t)(q0 + t) * a->hd + d0 + 16 * c, acc[t][c]);
        }
    }
}
#endif

static void score_keys(const attention_job *a, const float *keys, const float *values, int g, int j0, int j1,
                       float *scores) {
#ifdef __AVX512F__
    if (a->hd % 16 == 0) {
        score_keys16(a, keys, values, g, j0, j1, scores);
        return;
    }
#endif
    score_keys8(a, keys, values, g, j0, j1, scores);
}

/* sums[Q, hd]: the block's values weighted by each query's p (0 past what it sees) */
static void sum_values(const attention_job *a, const float *values, int j0, int j1, const float *p, float *sums) {
#ifdef __AVX512F__
    if (a->hd % 16 == 0) {
        sum_values16(a, values, j0, j1, p, sums);
        return;
    }
#endif
    for (int query = 0; query < a->group * a->rows; query++)
        sum_values8(a, values, j0, j1, p + (size_t)query * KEY_BLOCK, sums + (size_t)query * a->hd);
}

static void key_blocks(void *ctx, int first, int count) {
    const attention_job *a = ctx;
    const int Q = a->group * a->rows;
    float *scores = scratch(6, (size_t)Q * KEY_BLOCK);
    for (int item = first; item < first + count; item++) {
        const int g = item / a->key_blocks, j0 = (item % a->key_blocks) * KEY_BLOCK;
        const int j1 = j0 + KEY_BLOCK < a->end ? j0 + KEY_BLOCK : a->end;
        const float *keys = a->k_cache + (size_t)g * a->capacity * a->hd;
        const float *values = a->v_cache + (size_t)g * a->capacity * a->hd;
        float *sums = a->partial + (size_t)item * Q * (a->hd + 2), *tops = sums + (size_t)Q * a->hd, *totals = tops + Q;
        score_keys(a, keys, values, g, j0, j1, scores);
        for (int query = 0; query < Q; query++) {
            const int seen = a->start + query % a->rows + 1 - j0;  /* keys of this block the query sees */
            const int n = seen < j1 - j0 ? seen : j1 - j0;
            float *p = scores + (size_t)query * KEY_BLOCK;
            float top = -INFINITY, total = 0.0f;
            for (int j = 0; j < n; j++) top = p[j] > top ? p[j] : top;
            int j = 0;
            __m256 lanes = _mm256_setzero_ps();
            for (; j + 8 <= n; j += 8) {
                const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_loadu_ps(p + j), _mm256_set1_ps(top)));
                _mm256_storeu_ps(p + j, e);
                lanes = _mm256_add_ps(lanes, e);
            }
            total = hsum256(lanes);
            for (; j < n; j++) total += p[j] = expf(p[j] - top);
            for (j = n > 0 ? n : 0; j < j1 - j0; j++) p[j] = 0.0f;
            tops[query] = top;
            totals[query] = total;
        }
        sum_values(a, values, j0, j1, scores, sums);
    }
}

/* out[m, h] = sum over blocks of e^(max_b - max) * sums_b / the same sum of totals, in block order */
static void merge_blocks(const attention_job *a, float *out) {
    const int Q = a->group * a->rows;
    for (int g = 0; g < a->kv_heads; g++)
        for (int query = 0; query < Q; query++) {
            const int h = g * a->group + query / a->rows, m = query % a->rows;
            const size_t item0 = (size_t)g * a->key_blocks, width = (size_t)Q * (a->hd + 2);
            float top = -INFINITY, total = 0.0f;
            for (int b = 0; b < a->key_blocks; b++) {
                const float t = a->partial[(item0 + b) * width + (size_t)Q * a->hd + query];
                top = t > top ? t : top;
            }
            float *o = out + ((size_t)m * a->heads + h) * a->hd;
            for (int i = 0; i < a->hd; i++) o[i] = 0.0f;
            for (int b = 0; b < a->key_blocks; b++) {
                const float *block = a->partial + (item0 + b) * width;
                const float t = block[(size_t)Q * a->hd + query];
                if (t == -INFINITY) continue;  /* keys the query does not see */
                const float w = expf(t - top);
                total += w * block[(size_t)Q * a->hd + Q + query];
                const __m256 wv = _mm256_set1_ps(w);
                const float *s = block + (size_t)query * a->hd;
                for (int i = 0; i < a->hd; i += 8)
                    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + i), _mm256_loadu_ps(o + i)));
            }
            const __m256 norm = _mm256_set1_ps(1.0f / total);
            for (int i = 0; i < a->hd; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(o + i), norm));
        }
}

/* rotate q and k (one complex multiply per pair), store k and v in the cache */
static void rotate_and_store(const float *qkv, int rows, int start, int H, int KV, int hd, int capacity,
                             const float *rope, float *q, float *k_cache, float *v_cache) {
    const int width = (H + 2 * KV) * hd;
    for (int m = 0; m < rows; m++) {
        const int pos = start + m;
        const float *row = qkv + (size_t)m * width, *rot = rope + (size_t)pos * hd;
        for (int h = 0; h < H + KV; h++) {
            float *dst = h < H ? q + ((size_t)m * H + h) * hd : k_cache + ((size_t)(h - H) * capacity + pos) * hd;
            const float *src = row + (size_t)h * hd;
            for (int i = 0; i < hd; i += 2) {
                const float x = src[i], y = src[i + 1], c = rot[i], s = rot[i + 1];
                dst[i] = x * c - y * s;
                dst[i + 1] = x * s + y * c;
            }
        }
        for (int g = 0; g < KV; g++) {
            const float *src = row + (size_t)(H + KV + g) * hd;
            float *dst = v_cache + ((size_t)g * capacity + pos) * hd;
            for (int i = 0; i < hd; i++) dst[i] = src[i];
        }
    }
}

int attention_rows(const float *qkv, int rows, int start, int heads, int kv_heads, int head_dim, int capacity,
                   const float *rope, float *k_cache, float *v_cache, float *out) {
    if (head_dim % 8 || rows < 1 || rows > MAX_ROWS || kv_heads < 1 || heads % kv_heads || start < 0 ||
        start + rows > capacity)
        return -1;
    const int end = start + rows, group = heads / kv_heads, blocks = (end + KEY_BLOCK - 1) / KEY_BLOCK;
    const size_t partial = (size_t)kv_heads * blocks * group * rows * (head_dim + 2);
    attention_job a = {scratch(1, (size_t)rows * heads * head_dim), k_cache, v_cache, scratch(2, partial),
                       rows, start, heads, kv_heads, head_dim, capacity, end, group, blocks};
    rotate_and_store(qkv, rows, start, heads, kv_heads, head_dim, capacity, rope, (float *)a.q, k_cache, v_cache);
    run_parallel(kv_heads * blocks, 1, key_blocks, &a);
    merge_blocks(&a, out);
    return 0;
}

int decode_attention(const float *qkv, int rows, int start, int heads, int kv_heads, int head_dim, int capacity,
                     const float *rope, float *k_cache, float *v_cache, float *out) {
    return attention_rows(qkv, rows, start, heads, kv_heads, head_dim, capacity, rope, k_cache, v_cache, out);
}
