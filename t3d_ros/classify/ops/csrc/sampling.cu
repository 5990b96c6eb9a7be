// Sampling kernels of t3d_ros (FPS, ball query, all SA levels fused), plain CUDA C++.
//
// Only cuda_runtime.h: builds with `nvcc -O3 -shared -Xcompiler -fPIC` without torch's headers and is
// called through ctypes (t3d_ros/ops/cuda.py) with raw device pointers and the caller's stream.
// Indices equal the CPU/reference ones bit for bit:
//  - squared distances use __f*_rn intrinsics, so nvcc never contracts them into FMAs;
//  - FPS arg-max ties go to the lowest index; chosen points hold -1 in the running min-distance, so
//    duplicates and points at the origin are ordinary candidates (no "norm < 1e-3" skip);
//  - k > n cycles the chosen sequence: idx[i] = idx[i % n].
// Every launcher only enqueues work on `stream` and returns cudaGetLastError(): no synchronisation.

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#define T3D_MAX_LEVELS 8
#define T3D_MAX_THREADS 1024
#define T3D_ABI_VERSION 2

namespace {

__device__ __forceinline__ float sq_dist(float px, float py, float pz, float cx, float cy, float cz) {
    const float dx = __fsub_rn(px, cx);
    const float dy = __fsub_rn(py, cy);
    const float dz = __fsub_rn(pz, cz);
    return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

// (v, i) beats (bv, bi): larger value, or equal value and lower index.
__device__ __forceinline__ void take_better(float& bv, int& bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

__device__ __forceinline__ void warp_argmax(float& bv, int& bi) {
    for (int off = 16; off > 0; off >>= 1) {
        const float v = __shfl_down_sync(0xffffffffu, bv, off);
        const int i = __shfl_down_sync(0xffffffffu, bi, off);
        take_better(bv, bi, v, i);
    }
}

// FPS of one cloud by the whole block (blockDim.x a multiple of 32). xyz: (n,3) row-major; mind: n
// floats of scratch; out: k indices. Thread t owns the points j = t, t + blockDim, ... for every step,
// so its mind entries are never touched by another thread. Two __syncthreads per step.
// xyz is not __restrict__: in sample_group_kernel it points at centres written earlier in the same
// kernel, which must not be read through the non-coherent read-only cache.
__device__ void block_fps(const float* xyz, int n, int k, float* __restrict__ mind,
                          int64_t* __restrict__ out, float* s_val, int* s_idx) {
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int nwarps = nt >> 5;
    if (k <= 0 || n <= 0) return;
    const int m = min(k, n);
    for (int j = tid; j < n; j += nt) mind[j] = __int_as_float(0x7f800000);  // +inf
    if (tid == 0) out[0] = 0;
    int c = 0;
    for (int s = 1; s < m; ++s) {
        const float cx = xyz[3 * c], cy = xyz[3 * c + 1], cz = xyz[3 * c + 2];
        float bv = -2.0f;  // below the -1 of chosen points: a thread with no points never wins
        int bi = 0x7fffffff;
        for (int j = tid; j < n; j += nt) {
            const float d = sq_dist(xyz[3 * j], xyz[3 * j + 1], xyz[3 * j + 2], cx, cy, cz);
            const float v = (j == c) ? -1.0f : fminf(mind[j], d);
            mind[j] = v;
            if (v > bv) {  // j increases within a thread: strict > keeps the lowest index
                bv = v;
                bi = j;
            }
        }
        warp_argmax(bv, bi);
        if (lane == 0) {
            s_val[warp] = bv;
            s_idx[warp] = bi;
        }
        __syncthreads();
        if (warp == 0) {
            bv = lane < nwarps ? s_val[lane] : -2.0f;
            bi = lane < nwarps ? s_idx[lane] : 0x7fffffff;
            warp_argmax(bv, bi);
            if (lane == 0) {
                s_idx[32] = bi;  // own slot: the per-warp slots are rewritten next step before this is read
                out[s] = bi;
            }
        }
        __syncthreads();
        c = s_idx[32];
    }
    __syncthreads();  // out[0..m) was written by thread 0
    for (int s = m + tid; s < k; s += nt) out[s] = out[s % n];
}

// One centre against n points: first nsample hits in index order, padded with the first hit;
// no hit -> the nearest point (lowest index on ties) everywhere.
__device__ void ball_query_one(const float* xyz, int n, float cx, float cy, float cz, float r2,
                               int nsample, int64_t* __restrict__ out) {
    int cnt = 0;
    int first = 0;
    for (int j = 0; j < n && cnt < nsample; ++j) {
        const float d = sq_dist(xyz[3 * j], xyz[3 * j + 1], xyz[3 * j + 2], cx, cy, cz);
        if (d < r2) {
            if (cnt == 0) first = j;
            out[cnt++] = j;
        }
    }
    if (cnt == 0) {
        float best = __int_as_float(0x7f800000);
        for (int j = 0; j < n; ++j) {
            const float d = sq_dist(xyz[3 * j], xyz[3 * j + 1], xyz[3 * j + 2], cx, cy, cz);
            if (d < best) {
                best = d;
                first = j;
            }
        }
    }
    for (int t = cnt; t < nsample; ++t) out[t] = first;
}

// One block per cloud. offsets != nullptr: packed clouds (cloud b = points offsets[b]..offsets[b+1]),
// else fixed-size clouds of `stride` points. mind has one float per point (same packing as xyz).
__global__ void fps_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ offsets, int64_t stride,
                           int k, float* __restrict__ mind, int64_t* __restrict__ out) {
    __shared__ float s_val[32];
    __shared__ int s_idx[33];
    const int64_t b = blockIdx.x;
    const int64_t a = offsets ? offsets[b] : b * stride;
    const int n = (int)(offsets ? offsets[b + 1] - a : stride);
    block_fps(xyz + 3 * a, n, k, mind + a, out + b * k, s_val, s_idx);
}

// One thread per (cloud, centre).
__global__ void ball_query_kernel(const float* __restrict__ xyz, const float* __restrict__ centres, int64_t nb,
                                  int n, int ns, float r2, int nsample, int64_t* __restrict__ out) {
    const int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= nb * ns) return;
    const int64_t b = q / ns;
    const float* c = centres + 3 * q;
    ball_query_one(xyz + 3 * b * n, n, c[0], c[1], c[2], r2, nsample, out + q * nsample);
}

}  // namespace

extern "C" {

// Levels of t3d_sample_group; mirrored by a ctypes.Structure in cuda.py (checked with t3d_levels_layout).
struct T3DLevels {
    int count;
    int npoint[T3D_MAX_LEVELS];
    int nsample[T3D_MAX_LEVELS];
    float r2[T3D_MAX_LEVELS];
    int64_t* fps_idx[T3D_MAX_LEVELS];    // (B, npoint) indices into the previous level's points
    int64_t* group_idx[T3D_MAX_LEVELS];  // (B, npoint, nsample)
    float* centres[T3D_MAX_LEVELS];      // (B, npoint, 3) scratch: this level's centres, next level's points
};

}  // extern "C"

namespace {

// All levels of one cloud per block: FPS, gather of the centres, ball query (threads over centres),
// then the centres become the next level's points. mind: (B, mind_stride) scratch.
// (xyz without __restrict__, see block_fps.)
__global__ void sample_group_kernel(const float* xyz, int n0, float* __restrict__ mind,
                                    int64_t mind_stride, T3DLevels lv) {
    __shared__ float s_val[32];
    __shared__ int s_idx[33];
    const int64_t b = blockIdx.x;
    const float* pts = xyz + 3 * b * n0;
    int n = n0;
    for (int l = 0; l < lv.count; ++l) {
        const int S = lv.npoint[l];
        const int ns = lv.nsample[l];
        int64_t* fidx = lv.fps_idx[l] + b * S;
        block_fps(pts, n, S, mind + b * mind_stride, fidx, s_val, s_idx);
        __syncthreads();  // fidx from thread 0 and the cycling threads
        float* cen = lv.centres[l] + 3 * b * S;
        for (int s = threadIdx.x; s < S; s += blockDim.x) {
            const int64_t j = fidx[s];
            cen[3 * s] = pts[3 * j];
            cen[3 * s + 1] = pts[3 * j + 1];
            cen[3 * s + 2] = pts[3 * j + 2];
        }
        __syncthreads();
        int64_t* grp = lv.group_idx[l] + b * S * ns;
        for (int s = threadIdx.x; s < S; s += blockDim.x)
            ball_query_one(pts, n, cen[3 * s], cen[3 * s + 1], cen[3 * s + 2], lv.r2[l], ns, grp + (int64_t)s * ns);
        __syncthreads();
        pts = cen;
        n = S;
    }
}

__global__ void probe_kernel(int* out) { *out = 42; }

int valid_threads(int threads) {
    return threads >= 32 && threads <= T3D_MAX_THREADS && threads % 32 == 0;
}

}  // namespace

extern "C" {

int t3d_abi_version(void) { return T3D_ABI_VERSION; }

const char* t3d_error_string(int code) { return cudaGetErrorString((cudaError_t)code); }

// Probe of this library's own CUDA runtime (e.g. a driver too old for the nvcc that built it).
int t3d_device_count(int* count) { return (int)cudaGetDeviceCount(count); }

// Launches a one-thread kernel and synchronises: 0 when this library's code runs on the current GPU,
// else the CUDA error (no device, a driver too old, a binary built for another architecture; -1: the
// kernel ran but wrote the wrong value). Counting devices alone does not show that a kernel can run.
int t3d_probe(void) {
    int* d = nullptr;
    int h = 0;
    cudaError_t e = cudaMalloc(&d, sizeof(int));
    if (e != cudaSuccess) return (int)e;
    probe_kernel<<<1, 1>>>(d);
    e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost);
    cudaFree(d);
    if (e != cudaSuccess) return (int)e;
    return h == 42 ? 0 : -1;
}

// sizeof(T3DLevels) and the offsets of its pointer arrays, so cuda.py can check its ctypes mirror.
void t3d_levels_layout(int64_t* out4) {
    out4[0] = (int64_t)sizeof(T3DLevels);
    out4[1] = (int64_t)offsetof(T3DLevels, fps_idx);
    out4[2] = (int64_t)offsetof(T3DLevels, group_idx);
    out4[3] = (int64_t)offsetof(T3DLevels, centres);
}

// Packed FPS: xyz (P,3) f32, offsets (K+1,) i64 on the device, mind (P,) f32 scratch, out (K,k) i64.
int t3d_fps_packed(const float* xyz, const int64_t* offsets, int K, int k, int threads, float* mind, int64_t* out,
                   cudaStream_t stream) {
    if (!valid_threads(threads) || K < 0 || k < 0) return (int)cudaErrorInvalidValue;
    if (K == 0 || k == 0) return (int)cudaSuccess;
    fps_kernel<<<K, threads, 0, stream>>>(xyz, offsets, 0, k, mind, out);
    return (int)cudaGetLastError();
}

// Batched FPS: xyz (B,N,3) f32, mind (B*N,) f32 scratch, out (B,k) i64.
int t3d_fps_batch(const float* xyz, int B, int N, int k, int threads, float* mind, int64_t* out,
                  cudaStream_t stream) {
    if (!valid_threads(threads) || B < 0 || N < 1 || k < 0) return (int)cudaErrorInvalidValue;
    if (B == 0 || k == 0) return (int)cudaSuccess;
    fps_kernel<<<B, threads, 0, stream>>>(xyz, nullptr, N, k, mind, out);
    return (int)cudaGetLastError();
}

// Ball query: xyz (B,N,3), centres (B,S,3) f32, out (B,S,nsample) i64; r2 = float32(r)^2.
int t3d_ball_query(const float* xyz, const float* centres, int B, int N, int S, float r2, int nsample, int64_t* out,
                   cudaStream_t stream) {
    if (B < 0 || N < 1 || S < 0 || nsample < 1) return (int)cudaErrorInvalidValue;
    const int64_t total = (int64_t)B * S;
    if (total == 0) return (int)cudaSuccess;
    const int threads = 128;
    const int64_t blocks = (total + threads - 1) / threads;
    ball_query_kernel<<<(unsigned)blocks, threads, 0, stream>>>(xyz, centres, B, N, S, r2, nsample, out);
    return (int)cudaGetLastError();
}

// All SA levels in one launch: xyz (B,N,3) f32, mind (B, mind_stride) f32 scratch with
// mind_stride >= max(N, npoint of every level but the last); outputs described by *levels (host memory).
int t3d_sample_group(const float* xyz, int B, int N, int threads, float* mind, int64_t mind_stride,
                     const T3DLevels* levels, cudaStream_t stream) {
    if (!valid_threads(threads) || B < 0 || N < 1 || !levels || levels->count < 0 || levels->count > T3D_MAX_LEVELS)
        return (int)cudaErrorInvalidValue;
    if (B == 0 || levels->count == 0) return (int)cudaSuccess;
    sample_group_kernel<<<B, threads, 0, stream>>>(xyz, N, mind, mind_stride, *levels);
    return (int)cudaGetLastError();
}

}  // extern "C"
