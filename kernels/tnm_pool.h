/* tnm_pool.h: the matmul's threads. A small pool of POSIX threads that runs a job made of
 * independent tasks, built so that no thread ever waits for another that is not running.
 *
 * Why not OpenMP (kernels/README.md, "Threads", has the measurements): an OpenMP parallel
 * region ends in a barrier, and a blocked matmul needs more barriers inside (the packed B is
 * shared). On a machine whose cores are also busy - OpenBLAS's workers spinning for ~0.1 s
 * after every NumPy matmul, or another process - one descheduled thread holds every barrier
 * for a scheduler time slice (milliseconds), and a 1 ms matmul took 60 ms. Here:
 *   - a job is a count of tasks; each thread, the caller included, claims the next task with
 *     one compare-and-swap until none is left. A thread that wakes late finds nothing to do,
 *     and the caller never waits for it: it waits only for tasks already claimed;
 *   - idle workers spin for TNM_SPIN_NS, then keep checking for a job but yield the core
 *     (sched_yield) to any other thread that wants it until TNM_YIELD_NS, then sleep on a
 *     condition variable: a product that follows within 2 ms finds them awake, and they never
 *     hold a core that NumPy's BLAS or another process wants;
 *   - a second caller while a job runs (another Python thread) runs its job serially.
 * Without POSIX threads (e.g. MSVC) jobs run serially in the caller.
 */
#ifndef TNM_POOL_H
#define TNM_POOL_H

typedef void (*tnm_task_fn)(void* arg, long task);

#if defined(__unix__) || defined(__APPLE__)
#define TNM_POOL 1
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define TNM_MAX_WORKERS 255
#define TNM_SPIN_NS 400000L         /* idle workers spin this long (400 us: the gaps between a training
                                     * step's products; kernels/README.md), */
#define TNM_YIELD_NS 2000000L       /* then yield the core between checks until 2 ms, then sleep */

#if defined(__x86_64__) || defined(__i386__)
#define TNM_PAUSE() __builtin_ia32_pause()
#else
#define TNM_PAUSE() ((void)0)
#endif

static struct {
    pthread_mutex_t lock;           /* guards the two condition variables' waits */
    pthread_cond_t wake;            /* a new job was published */
    pthread_cond_t finished;        /* the last task of the job finished */
    atomic_flag busy;               /* a caller is using the pool */
    int started;                    /* workers created so far (they live until the process exits) */
    /* the job: generation << 32 | next task to claim. The job's fields below are written only
     * while every task of the previous generation is done, and read only by a thread that
     * holds a claimed task of this generation, so they never change under a reader. */
    _Atomic uint64_t state;
    _Atomic long done;
    _Atomic int workers;            /* how many workers take part (the caller's thread count - 1) */
    tnm_task_fn fn;
    void* arg;
    _Atomic long ntasks;
} tnm_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
              ATOMIC_FLAG_INIT, 0, 0, 0, 0, NULL, NULL, 0};

static long tnm_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Claim and run tasks of generation `gen` until none is left. */
static void tnm_pool_work(uint64_t gen) {
    for (;;) {
        uint64_t s = atomic_load_explicit(&tnm_pool.state, memory_order_acquire);
        if (s >> 32 != gen || (long)(s & 0xffffffffu) >= atomic_load(&tnm_pool.ntasks)) return;
        if (!atomic_compare_exchange_weak(&tnm_pool.state, &s, s + 1)) continue;
        tnm_pool.fn(tnm_pool.arg, (long)(s & 0xffffffffu));
        if (atomic_fetch_add(&tnm_pool.done, 1) + 1 == atomic_load(&tnm_pool.ntasks)) {
            pthread_mutex_lock(&tnm_pool.lock);
            pthread_cond_signal(&tnm_pool.finished);
            pthread_mutex_unlock(&tnm_pool.lock);
        }
    }
}

static void* tnm_worker(void* p) {
    int me = (int)(intptr_t)p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load_explicit(&tnm_pool.state, memory_order_acquire) >> 32;
        if (gen == seen) {          /* nothing new: spin a little, then sleep until a job comes */
            long start = tnm_now_ns(), now = start;
            while ((gen = atomic_load_explicit(&tnm_pool.state, memory_order_acquire) >> 32) == seen
                   && (now = tnm_now_ns()) < start + TNM_YIELD_NS) {
                if (now < start + TNM_SPIN_NS)
                    for (int i = 0; i < 16; i++) TNM_PAUSE();
                else
                    sched_yield();
            }
            if (gen == seen) {
                pthread_mutex_lock(&tnm_pool.lock);
                while ((gen = atomic_load(&tnm_pool.state) >> 32) == seen)
                    pthread_cond_wait(&tnm_pool.wake, &tnm_pool.lock);
                pthread_mutex_unlock(&tnm_pool.lock);
            }
        }
        seen = gen;
        if (me < atomic_load(&tnm_pool.workers)) tnm_pool_work(gen);
    }
    return NULL;
}

static void tnm_pool_after_fork(void) {
    /* the child has none of the workers: start again (the lock and flags as at load time) */
    pthread_mutex_init(&tnm_pool.lock, NULL);
    pthread_cond_init(&tnm_pool.wake, NULL);
    pthread_cond_init(&tnm_pool.finished, NULL);
    atomic_flag_clear(&tnm_pool.busy);
    tnm_pool.started = 0;
}

/* Start workers until there are `want` (fewer if the OS refuses). The caller holds the pool. */
static void tnm_pool_grow(int want) {
    static int atfork_registered = 0;
    if (!atfork_registered) {
        pthread_atfork(NULL, NULL, tnm_pool_after_fork);
        atfork_registered = 1;
    }
    while (tnm_pool.started < want) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, tnm_worker, (void*)(intptr_t)tnm_pool.started);
        pthread_attr_destroy(&attr);
        if (failed) break;                               /* fewer threads, still correct */
        tnm_pool.started++;
    }
}

/* Run a job on the pool, which the caller holds, with nthreads - 1 workers taking part. */
static void tnm_pool_run(tnm_task_fn fn, void* arg, long ntasks, int nthreads) {
    /* Close the previous generation first (next = 0xffffffff: nothing to claim), so a worker
     * still looking at it cannot claim a task while the job is being written; then publish. */
    uint64_t gen = (atomic_load(&tnm_pool.state) >> 32) + 1;
    atomic_store(&tnm_pool.state, gen << 32 | 0xffffffffu);
    tnm_pool.fn = fn;
    tnm_pool.arg = arg;
    atomic_store(&tnm_pool.ntasks, ntasks);
    atomic_store(&tnm_pool.done, 0);
    atomic_store(&tnm_pool.workers, nthreads - 1);
    gen++;
    atomic_store_explicit(&tnm_pool.state, gen << 32, memory_order_release);   /* publish */
    pthread_mutex_lock(&tnm_pool.lock);
    pthread_cond_broadcast(&tnm_pool.wake);
    pthread_mutex_unlock(&tnm_pool.lock);
    tnm_pool_work(gen);
    /* the tasks other threads claimed: spin while they are likely to end soon, then sleep */
    long until = tnm_now_ns() + TNM_SPIN_NS;
    while (atomic_load(&tnm_pool.done) < ntasks && tnm_now_ns() < until)
        for (int i = 0; i < 16; i++) TNM_PAUSE();
    if (atomic_load(&tnm_pool.done) < ntasks) {
        pthread_mutex_lock(&tnm_pool.lock);
        while (atomic_load(&tnm_pool.done) < ntasks) pthread_cond_wait(&tnm_pool.finished, &tnm_pool.lock);
        pthread_mutex_unlock(&tnm_pool.lock);
    }
}

/* Run fn(arg, t) for t in [0, ntasks) on up to nthreads threads (the caller is one of them). */
static void tnm_parallel(tnm_task_fn fn, void* arg, long ntasks, int nthreads) {
    if (nthreads > ntasks) nthreads = (int)ntasks;
    if (nthreads > TNM_MAX_WORKERS + 1) nthreads = TNM_MAX_WORKERS + 1;
    if (nthreads <= 1 || atomic_flag_test_and_set(&tnm_pool.busy)) {
        for (long t = 0; t < ntasks; t++) fn(arg, t);    /* serial, or the pool is in use */
        return;
    }
    tnm_pool_grow(nthreads - 1);
    tnm_pool_run(fn, arg, ntasks, nthreads);
    atomic_flag_clear(&tnm_pool.busy);
}

/* --- OpenBLAS on these threads --------------------------------------------------------------
 * OpenBLAS (0.3.27 and later) lets the program run its parallel work: given a callback, it hands
 * every multi-threaded call's jobs to it instead of waking its own threads. tnm_openblas_threads
 * is that callback: NumPy's matmuls then run on this pool, OpenBLAS's own workers stay asleep,
 * and no spinning thread is left behind after a NumPy call (backends/cython.py registers it:
 * share_threads_with_blas). OpenBLAS's jobs wait for each other inside (they share packed
 * panels), so all of them must run at once, each on its own thread: the call waits for the pool
 * to be free (never runs them one after another), and starts the workers it needs. */
typedef void (*tnm_blas_dojob)(int thread_num, void* jobdata, int dojob_data);
typedef struct {
    tnm_blas_dojob dojob;
    char* data;
    size_t elsize;
    int arg;
} tnm_blas_jobs;

static void tnm_blas_task(void* arg, long t) {
    tnm_blas_jobs* j = (tnm_blas_jobs*)arg;
    j->dojob((int)t, j->data + (size_t)t * j->elsize, j->arg);
}

static void* tnm_blas_thread(void* arg) {      /* a job on a thread of its own (no pool) */
    tnm_blas_jobs* j = (tnm_blas_jobs*)((void**)arg)[0];
    tnm_blas_task(j, (long)(intptr_t)((void**)arg)[1]);
    return NULL;
}

static void tnm_openblas_threads(int sync, tnm_blas_dojob dojob, int numjobs, size_t elsize, void* jobdata,
                                 int dojob_data) {
    tnm_blas_jobs j = {dojob, (char*)jobdata, elsize, dojob_data};
    (void)sync;
    if (numjobs <= 1) {
        if (numjobs == 1) tnm_blas_task(&j, 0);
        return;
    }
    if (numjobs <= TNM_MAX_WORKERS + 1) {
        while (atomic_flag_test_and_set(&tnm_pool.busy)) sched_yield();   /* wait for the pool */
        tnm_pool_grow(numjobs - 1);
        if (tnm_pool.started >= numjobs - 1) {
            tnm_pool_run(tnm_blas_task, &j, numjobs, numjobs);
            atomic_flag_clear(&tnm_pool.busy);
            return;
        }
        atomic_flag_clear(&tnm_pool.busy);
    }
    /* too many jobs, or the OS would not start enough workers: a thread per job for this call */
    pthread_t* threads = malloc(sizeof(pthread_t) * (size_t)numjobs);
    void** args = malloc(sizeof(void*) * 2 * (size_t)numjobs);
    int made = 1;
    for (int t = 1; threads && args && t < numjobs; t++) {
        args[2 * t] = &j;
        args[2 * t + 1] = (void*)(intptr_t)t;
        if (pthread_create(&threads[t], NULL, tnm_blas_thread, &args[2 * t]) != 0) break;
        made++;
    }
    tnm_blas_task(&j, 0);
    for (int t = 1; t < made; t++) pthread_join(threads[t], NULL);
    free(threads);
    free(args);
}
#define TNM_OPENBLAS_CALLBACK ((void*)tnm_openblas_threads)
#else
#define TNM_POOL 0
#define TNM_OPENBLAS_CALLBACK ((void*)0)     /* no pool: OpenBLAS keeps its own threads */
static void tnm_parallel(tnm_task_fn fn, void* arg, long ntasks, int nthreads) {
    (void)nthreads;
    for (long t = 0; t < ntasks; t++) fn(arg, t);
}
#endif

#endif /* TNM_POOL_H */
