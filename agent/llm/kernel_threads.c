/* The kernels' threads: the calling thread and `kernel_threads(n) - 1` workers share each product.

   Built for a machine where other processes may hold the cores. Work is claimed in small chunks from one
   atomic counter, by the caller too, so a worker that is not running (descheduled, or asleep) delays nothing
   that it has not claimed: the caller simply does the rest. The caller waits only for chunks already
   claimed. A worker spins for the next job for SPIN_NS (a decode step posts one every few microseconds and
   the next step follows within a millisecond), yielding its core now and then, then sleeps on a futex.
   When a claimed chunk keeps the caller waiting past WAIT_LIMIT_NS anyway (its worker lost its core), the
   caller works alone for the next SOLO_NS: on a machine whose cores are taken, two threads would otherwise
   be slower than one. Which thread computes a row never changes its value.

   state = generation << 32 | next item. A job's fields live in slots[generation & 1]; a worker reads them
   after seeing the generation and then claims a chunk by compare-and-swap on state, which fails if the
   generation moved on in between, so a worker never acts on another job's fields. */
#define _GNU_SOURCE
#include <errno.h>
#include <immintrin.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "block_kernels.h"

#define MAX_THREADS 16
#define SPIN_NS 2000000L
#define WAIT_LIMIT_NS 200000L
#define SOLO_NS 50000000L

typedef struct {
    _Atomic(range_task) fn;
    _Atomic(void *) ctx;
    atomic_int items, chunk, done;
} job;

static job slots[2];
static _Atomic uint64_t state;
static atomic_int wake_word, sleepers, stopping;
static atomic_flag busy = ATOMIC_FLAG_INIT;  /* one job at a time; other callers run inline */
static pthread_t workers[MAX_THREADS];
static int worker_count;
static atomic_long solo_until;  /* the caller runs jobs alone until then (CLOCK_MONOTONIC ns) */

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Claim and run chunks of the current job until none is left; returns that job's generation. */
static uint32_t work(void) {
    for (;;) {
        uint64_t v = atomic_load_explicit(&state, memory_order_acquire);
        const uint32_t generation = (uint32_t)(v >> 32), first = (uint32_t)v;
        job *j = &slots[generation & 1];
        const int items = atomic_load_explicit(&j->items, memory_order_relaxed);
        const int chunk = atomic_load_explicit(&j->chunk, memory_order_relaxed);
        const range_task fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&j->ctx, memory_order_relaxed);
        if ((int)first >= items) return generation;
        if (atomic_compare_exchange_weak_explicit(&state, &v, v + (uint64_t)chunk, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            const int count = items - (int)first < chunk ? items - (int)first : chunk;
            fn(ctx, (int)first, count);
            atomic_fetch_add_explicit(&j->done, count, memory_order_release);
        }
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    uint32_t seen = (uint32_t)(atomic_load(&state) >> 32);
    while (!atomic_load(&stopping)) {
        long since = now_ns();
        for (unsigned spins = 1; (uint32_t)(atomic_load_explicit(&state, memory_order_acquire) >> 32) == seen;
             spins++) {
            if (atomic_load_explicit(&stopping, memory_order_relaxed)) return NULL;
            _mm_pause();
            if (spins % 64 == 0) sched_yield();  /* the caller may be waiting for this core */
            if (spins % 512 == 0 && now_ns() - since > SPIN_NS) {
                const int word = atomic_load(&wake_word);
                atomic_fetch_add(&sleepers, 1);
                if ((uint32_t)(atomic_load(&state) >> 32) == seen && !atomic_load(&stopping))
                    syscall(SYS_futex, &wake_word, FUTEX_WAIT_PRIVATE, word, NULL, NULL, 0);
                atomic_fetch_sub(&sleepers, 1);
                since = now_ns();
            }
        }
        seen = work();
    }
    return NULL;
}

static void wake_workers(void) {
    if (atomic_load(&sleepers) > 0) {
        atomic_fetch_add(&wake_word, 1);
        syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
}

void run_parallel(int items, int chunk, range_task fn, void *ctx) {
    if (items <= 0) return;
    if (chunk < 1) chunk = 1;
    if (worker_count == 0 || items <= chunk || now_ns() < atomic_load_explicit(&solo_until, memory_order_relaxed) ||
        atomic_flag_test_and_set_explicit(&busy, memory_order_acquire)) {
        fn(ctx, 0, items);  /* also a call from inside a task, or from a second caller thread */
        return;
    }
    const uint32_t generation = (uint32_t)(atomic_load(&state) >> 32) + 1;
    job *j = &slots[generation & 1];
    atomic_store_explicit(&j->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&j->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&j->items, items, memory_order_relaxed);
    atomic_store_explicit(&j->chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    atomic_store(&state, (uint64_t)generation << 32);
    wake_workers();
    work();
    if (atomic_load_explicit(&j->done, memory_order_acquire) < items) {
        const long since = now_ns();
        for (unsigned spins = 1; atomic_load_explicit(&j->done, memory_order_acquire) < items; spins++) {
            _mm_pause();
            if (spins % 256 == 0) sched_yield();  /* a claimed chunk's worker may be waiting for a core */
        }
        const long ended = now_ns();
        if (ended - since > WAIT_LIMIT_NS) atomic_store_explicit(&solo_until, ended + SOLO_NS, memory_order_relaxed);
    }
    atomic_flag_clear_explicit(&busy, memory_order_release);
}

static void stop_workers(void) {
    atomic_store(&stopping, 1);
    atomic_fetch_add(&wake_word, 1);
    syscall(SYS_futex, &wake_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    for (int i = 0; i < worker_count; i++) pthread_join(workers[i], NULL);
    worker_count = 0;
    atomic_store(&stopping, 0);
}

/* Use n threads (the caller and n - 1 workers) from now on; n < 1 only reports. Returns the count in use.
   Call it while no kernel runs. */
int kernel_threads(int n) {
    if (n < 1) return worker_count + 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    while (atomic_flag_test_and_set(&busy)) sched_yield();
    if (n - 1 != worker_count) {
        stop_workers();
        for (int i = 0; i < n - 1; i++) {
            if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) break;
            worker_count++;
        }
    }
    atomic_flag_clear(&busy);
    return worker_count + 1;
}

/* Per-thread scratch buffers, freed when the thread ends. */
#define SLOTS 8
typedef struct { float *data[SLOTS]; size_t size[SLOTS]; } scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
    scratch_set *s = p;
    for (int i = 0; i < SLOTS; i++) free(s->data[i]);
    free(s);
}

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

float *scratch(int slot, size_t floats) {
    pthread_once(&scratch_once, make_scratch_key);
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) abort();
        pthread_setspecific(scratch_key, s);
    }
    if (floats > s->size[slot]) {
        const size_t size = (floats + floats / 2 + 15) / 16 * 16;
        free(s->data[slot]);
        s->data[slot] = aligned_alloc(64, size * sizeof(float));
        if (!s->data[slot]) abort();  /* a few MB at most: out of memory leaves nothing sensible to do */
        s->size[slot] = size;
    }
    return s->data[slot];
}
