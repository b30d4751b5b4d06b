/* recover_from_ric as one pass over the features: joint positions from the root data and the ric block.
 *
 * The same arithmetic, in the same order and precision, as the portable torch code in
 * mogen_bench/motion/guo_features.py (_recover_root and _recover_from_ric_torch): running sums of the
 * heading angle and of the root's ground steps in double, as torch's CPU cumsum accumulates them, and
 * the inverse heading as the 2D rotation c x + s z, c z - s x with k = 2 sin^2 a, s = -2 cos a sin a,
 * c = 1 - k. It exists because the torch code needs several strided passes over the batch, while this
 * loop reads each feature row once and writes each joint row once.
 *
 * Layout: features (motions, frames, dims) with unit stride along dims and the given motion and frame
 * strides (in elements); out (motions, frames, joints, 3), contiguous. Motions are split between threads.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>

/* How many frame rows ahead to ask the CPU for: a row is about 1 KiB of which ~270 bytes are read, a
 * pattern the hardware prefetchers do not follow, so without this the loop waits on memory (measured
 * 9 ms instead of 4 ms for 256 x 195 frames on one core). */
#define PREFETCH_ROWS 8

#define DEFINE_RECOVER(NAME, real, SIN, COS)                                                            \
    static void NAME(const real *features, int64_t begin, int64_t end, int64_t frames, int64_t dims,    \
                     int64_t motion_stride, int64_t frame_stride, int64_t joints, real *out) {          \
        const int64_t read_bytes = (4 + 3 * (joints - 1)) * (int64_t)sizeof(real);                      \
        (void)dims;                                                                                     \
        for (int64_t m = begin; m < end; ++m) {                                                         \
            const real *motion = features + m * motion_stride;                                          \
            real *placed = out + m * frames * joints * 3;                                               \
            double angle = 0.0, root_x = 0.0, root_z = 0.0;                                             \
            for (int64_t t = 0; t < frames; ++t) {                                                      \
                const real *row = motion + t * frame_stride;                                            \
                real *frame = placed + t * joints * 3;                                                  \
                if (t + PREFETCH_ROWS < frames) {                                                       \
                    const char *ahead = (const char *)(row + PREFETCH_ROWS * frame_stride);             \
                    for (int64_t b = 0; b < read_bytes; b += 64) __builtin_prefetch(ahead + b, 0, 0);   \
                }                                                                                       \
                /* Frame t's heading sums the angular velocities of the frames before it. */            \
                real a = (real)angle;                                                                   \
                real inverse_y = -SIN(a);                                                               \
                real k = 2 * inverse_y * inverse_y, s = 2 * COS(a) * inverse_y, c = 1 - k;              \
                if (t > 0) {                                                                            \
                    /* The step into frame t is the velocity stored at frame t-1, turned by frame t's   \
                     * heading (as the official code indexes it). */                                    \
                    real step_x = row[1 - frame_stride], step_z = row[2 - frame_stride];                \
                    root_x += (double)(step_x + (s * step_z - k * step_x));                             \
                    root_z += (double)(step_z - (s * step_x + k * step_z));                             \
                }                                                                                       \
                real x0 = (real)root_x, z0 = (real)root_z;                                              \
                frame[0] = x0;                                                                          \
                frame[1] = row[3];                                                                      \
                frame[2] = z0;                                                                          \
                const real *ric = row + 4;                                                              \
                for (int64_t j = 0; j < joints - 1; ++j) {                                              \
                    real x = ric[3 * j], y = ric[3 * j + 1], z = ric[3 * j + 2];                        \
                    frame[3 * j + 3] = (x0 + s * z) + c * x;                                            \
                    frame[3 * j + 4] = y;                                                               \
                    frame[3 * j + 5] = (z0 - s * x) + c * z;                                            \
                }                                                                                       \
                angle += (double)row[0];                                                                \
            }                                                                                           \
        }                                                                                               \
    }

DEFINE_RECOVER(recover_f32, float, sinf, cosf)
DEFINE_RECOVER(recover_f64, double, sin, cos)

typedef struct {
    const void *features;
    int64_t begin, end, frames, dims, motion_stride, frame_stride, joints;
    void *out;
    int is_double;
} Share;

static void *run_share(void *arg) {
    const Share *share = (const Share *)arg;
    if (share->is_double)
        recover_f64(share->features, share->begin, share->end, share->frames, share->dims,
                    share->motion_stride, share->frame_stride, share->joints, share->out);
    else
        recover_f32(share->features, share->begin, share->end, share->frames, share->dims,
                    share->motion_stride, share->frame_stride, share->joints, share->out);
    return 0;
}

#define MAX_THREADS 256

/* Returns 0; every share runs, on its own thread where one could be started and on the caller's
 * otherwise, so a failed pthread_create costs time, never results. */
int mogen_recover_from_ric(const void *features, int64_t motions, int64_t frames, int64_t dims,
                           int64_t motion_stride, int64_t frame_stride, int64_t joints, void *out,
                           int is_double, int threads) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > motions) threads = (int)motions;
    if (threads < 1) threads = 1;
    pthread_t ids[MAX_THREADS];
    Share shares[MAX_THREADS];
    int started[MAX_THREADS];
    for (int i = 0; i < threads; ++i) {
        Share share = {features, motions * i / threads, motions * (i + 1) / threads, frames, dims,
                       motion_stride, frame_stride, joints, out, is_double};
        shares[i] = share;
        started[i] = 0;
    }
    for (int i = 1; i < threads; ++i) started[i] = pthread_create(&ids[i], 0, run_share, &shares[i]) == 0;
    run_share(&shares[0]);
    for (int i = 1; i < threads; ++i) {
        if (started[i])
            pthread_join(ids[i], 0);
        else
            run_share(&shares[i]);
    }
    return 0;
}
