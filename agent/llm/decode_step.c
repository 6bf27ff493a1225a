/* A whole forward pass of a few new tokens (a decode step, a draft, forced grammar tokens) through a llama
   model whose matrices are all in packed rows: one call instead of 5 per layer from Python, and the same
   arithmetic as those calls (block_matmul, decode_attention). Prefills stay on the dense float32 path.

   Per layer: x += o(attention(qkv(RMSNorm(x)))); x += down(SiLU(gate) * up(RMSNorm(x))); then the final
   RMSNorm and the output projection for the last `keep` tokens. A layer's matrices may each carry an
   adapter's product, added to the matrix's output right after it. */
#include "block_kernels.h"

/* An adapter's part of one matrix: add(ctx, in, rows, y) adds its product of the matrix's input in [rows, k]
   (after the RMSNorm or SiLU(gate) * up) to the matrix's output y [rows, n]; nonzero when it cannot. A LoRA
   adapter's is low_rank_apply (agent/llm/low_rank.c, its own library), filled in by agent/llm/low_rank.py. */
typedef struct {
    int (*add)(const void *ctx, const float *in, int rows, float *y);
    const void *ctx;
} matrix_adapter;

typedef struct {
    const float *in_norm, *post_norm;  /* [hidden] */
    packed_matrix qkv, o, gate_up, down;
    float *k_cache, *v_cache;          /* this layer's [kv_heads, capacity, head_dim] */
    const matrix_adapter *adapters;    /* NULL, or [4]: for qkv, o, gate_up and down (an add may be NULL) */
} llama_layer;

typedef struct {
    int layers, hidden, heads, kv_heads, head_dim, intermediate, capacity;
    float eps;
    const float *rope;                 /* [capacity, head_dim / 2] (cos, sin) pairs */
    const float *final_norm;           /* [hidden] */
    packed_matrix head;                /* [vocab, hidden] */
    const llama_layer *layer;          /* [layers] */
} llama_model;

static int fits(const packed_matrix *w, int k, int n) { return w->k == k && (n < 0 || w->n == n) && w->rows; }

static int valid(const llama_model *m) {
    const int width = (m->heads + 2 * m->kv_heads) * m->head_dim;
    if (m->hidden % BLOCK || m->intermediate % BLOCK || (m->heads * m->head_dim) % BLOCK || !fits(&m->head, m->hidden, -1))
        return 0;
    for (int i = 0; i < m->layers; i++) {
        const llama_layer *l = m->layer + i;
        if (!fits(&l->qkv, m->hidden, width) || !fits(&l->o, m->heads * m->head_dim, m->hidden) ||
            !fits(&l->gate_up, m->hidden, 2 * m->intermediate) || !fits(&l->down, m->intermediate, m->hidden))
            return 0;
    }
    return 1;
}

static int adapt(const llama_layer *l, int which, const float *in, int rows, float *y) {
    const matrix_adapter *a = l->adapters ? l->adapters + which : NULL;
    return a && a->add ? a->add(a->ctx, in, rows, y) : 0;
}

/* x [rows, hidden]: the new tokens' embeddings (overwritten); logits [keep, vocab] for the last `keep` tokens.
   Positions start..start+rows-1 of every layer's cache are written. */
int decode_step(const llama_model *m, float *x, int rows, int start, int keep, float *logits) {
    if (rows < 1 || rows > MAX_ROWS || keep < 1 || keep > rows || start < 0 || start + rows > m->capacity || !valid(m))
        return -1;
    const size_t D = (size_t)m->hidden, I = (size_t)m->intermediate, A = (size_t)m->heads * m->head_dim;
    const size_t W = (size_t)(m->heads + 2 * m->kv_heads) * m->head_dim;
    float *xn = scratch(4, rows * (D + W + A + 3 * I));
    float *qkv = xn + rows * D, *att = qkv + rows * W, *gate_up = att + rows * A, *act = gate_up + rows * 2 * I;
    for (int i = 0; i < m->layers; i++) {
        const llama_layer *l = m->layer + i;
        rms_norm_rows(x, rows, m->hidden, l->in_norm, m->eps, xn);
        parallel_matmul(&l->qkv, xn, rows, qkv, 0);
        if (adapt(l, 0, xn, rows, qkv))
            return -1;
        if (attention_rows(qkv, rows, start, m->heads, m->kv_heads, m->head_dim, m->capacity, m->rope, l->k_cache,
                           l->v_cache, att))
            return -1;
        parallel_matmul(&l->o, att, rows, x, 1);
        if (adapt(l, 1, att, rows, x))
            return -1;
        rms_norm_rows(x, rows, m->hidden, l->post_norm, m->eps, xn);
        parallel_matmul(&l->gate_up, xn, rows, gate_up, 0);
        if (adapt(l, 2, xn, rows, gate_up))
            return -1;
        silu_gate_rows(gate_up, rows, m->intermediate, act);
        parallel_matmul(&l->down, act, rows, x, 1);
        if (adapt(l, 3, act, rows, x))
            return -1;
    }
    rms_norm_rows(x + (size_t)(rows - keep) * D, keep, m->hidden, m->final_norm, m->eps, xn);
    parallel_matmul(&m->head, xn, keep, logits, 0);
    return 0;
}
