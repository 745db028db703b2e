// cu_hooks.cpp — the CUDA driver entry points gpucr interposes, and the three ways they are reached.
//
// libgpucr_cuda.so is preloaded, so:
//  - an application linked against libcuda calls gpucr's exported cu* symbols directly;
//  - the CUDA runtime (static or shared) dlsym()s cuGetProcAddress_v2 from libcuda and fetches
//    every entry point through it: gpucr's dlsym returns its own cuGetProcAddress, which hands out
//    gpucr's wrapper wherever the driver's answer is the real pointer of a wrapped function;
//  - libraries that dlsym() libcuda themselves (cuBLAS, cuDNN) get the same substitution.
// Wrapping is by real pointer, never by name: an older version of a name is another function.
//
// Each wrapper: loads the driver on first use, passes through untouched when gpucr is disabled,
// waits at the CUDA gate (suspend), and hands operations to CudaCheckpoint (backends/cuda). Nothing
// here throws across the C ABI; a failure inside gpucr is logged and the call is forwarded.
#include <dlfcn.h>
#include <link.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cu_checkpoint.h"
#include "dag/agent.h"
#include "dag/gate.h"
#include "dag/log.h"
#include "layers/cuda/cu_real.h"

#define GPUCR_EXPORT extern "C" __attribute__((visibility("default")))

using gpucr::cuda::CudaCheckpoint;
using gpucr::cuda::OpDesc;
using gpucr::cuda::Real;
using gpucr::dag::OpKind;

namespace {

// Forwards to the driver's `abi`, or CUDA_ERROR_NOT_FOUND when the driver lacks it.
#define GPUCR_REAL(abi, ...) (Real().abi != nullptr ? Real().abi(__VA_ARGS__) : CUDA_ERROR_NOT_FOUND)

// Runs `active` with gpucr in the loop, or `pass` (the plain driver call) when gpucr is off.
template <class Active, class Pass>
CUresult Entry(Active&& active, Pass&& pass) noexcept {
    if (!gpucr::cuda::LoadReal()) return CUDA_ERROR_NOT_INITIALIZED;
    CudaCheckpoint* cp = nullptr;
    try {
        cp = &CudaCheckpoint::Get();
    } catch (...) {
        return pass();
    }
    if (!cp->enabled()) return pass();
    try {
        gpucr::gate::Scope in(gpucr::gate::ForApi(gpucr::gate::Api::kCuda));
        return active(*cp);
    } catch (const std::exception& e) {
        GPUCR_LOG_ERROR_ONCE("cuda", "internal error, call forwarded untouched: {}", e.what());
    } catch (...) {
        GPUCR_LOG_ERROR_ONCE("cuda", "internal error, call forwarded untouched");
    }
    return pass();
}

// An operation on `stream` with the given accesses.
template <class Call>
CUresult Operation(CUstream stream, bool per_thread, OpKind kind, const char* label, Call&& call,
                   void (*accesses)(CudaCheckpoint&, OpDesc&, void*), void* args) noexcept {
    return Entry([&](CudaCheckpoint& cp) { return cp.Submit(cp.QueueOf(stream, per_thread), kind, label, accesses, args, call); },
                 call);
}

struct CopyArgs {
    CUdeviceptr dst = 0;
    CUdeviceptr src = 0;
    uint64_t bytes = 0;
    bool whole = false;  // 2D/3D copies: the whole allocations
};

void CopyAccesses(CudaCheckpoint& cp, OpDesc& op, void* p) {
    auto* a = static_cast<CopyArgs*>(p);
    if (a->whole) {
        if (a->src != 0) cp.WholeAccess(a->src, op.reads);
        if (a->dst != 0) cp.WholeAccess(a->dst, op.writes);
        return;
    }
    if (a->src != 0) cp.RangeAccess(a->src, a->bytes, op.reads);
    if (a->dst != 0) cp.RangeAccess(a->dst, a->bytes, op.writes);
}

template <class Call>
CUresult Copy(CUstream stream, bool per_thread, OpKind kind, const char* label, CopyArgs args, Call&& call) noexcept {
    return Operation(stream, per_thread, kind, label, call, &CopyAccesses, &args);
}

CUdeviceptr DevicePart(CUmemorytype type, CUdeviceptr device) {
    return type == CU_MEMORYTYPE_DEVICE || type == CU_MEMORYTYPE_UNIFIED ? device : 0;
}

struct LaunchArgs {
    CUfunction f;
    void** params;
    void** extra;
};

void LaunchAccessesOf(CudaCheckpoint& cp, OpDesc& op, void* p) {
    auto* a = static_cast<LaunchArgs*>(p);
    cp.LaunchAccesses(a->f, a->params, a->extra, op.writes);
    op.reads = op.writes;  // direction unknown: read-write until validated
}

template <class Call>
CUresult Launch(CUstream stream, bool per_thread, const char* label, LaunchArgs args, Call&& call) noexcept {
    return Operation(stream, per_thread, OpKind::kDispatch, label, call, &LaunchAccessesOf, &args);
}

template <class Call>
CUresult Refusing(const char* what, Call&& call) noexcept {
    CUresult r = call();
    if (r == CUDA_SUCCESS) {
        Entry(
            [&](CudaCheckpoint& cp) {
                cp.Refuse(what);
                return CUDA_SUCCESS;
            },
            [] { return CUDA_SUCCESS; });
    }
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Memory

GPUCR_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytes) {
    return Entry([&](CudaCheckpoint& cp) { return cp.Allocate(dptr, bytes, "cuMemAlloc"); },
                 [&] { return GPUCR_REAL(cuMemAlloc_v2, dptr, bytes); });
}

GPUCR_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pitch, size_t width, size_t height,
                                         unsigned int element) {
    return Entry(
        [&](CudaCheckpoint& cp) {
            if (pitch == nullptr || width == 0 || height == 0 || (element != 4 && element != 8 && element != 16)) {
                return CUDA_ERROR_INVALID_VALUE;
            }
            const size_t p = (width + 511) / 512 * 512;  // the texture pitch alignment of current GPUs
            CUresult r = cp.Allocate(dptr, p * height, "cuMemAllocPitch");
            if (r == CUDA_SUCCESS) *pitch = p;
            return r;
        },
        [&] { return GPUCR_REAL(cuMemAllocPitch_v2, dptr, pitch, width, height, element); });
}

GPUCR_EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) {
    return Entry(
        [&](CudaCheckpoint& cp) {
            CUresult r = CUDA_SUCCESS;
            if (cp.Free(ptr, nullptr, false, &r)) return r;
            return GPUCR_REAL(cuMemFree_v2, ptr);
        },
        [&] { return GPUCR_REAL(cuMemFree_v2, ptr); });
}

#define GPUCR_ALLOC_ASYNC(abi)                                                                         \
    GPUCR_EXPORT CUresult abi(CUdeviceptr* dptr, size_t bytes, CUstream stream) {                      \
        return Entry([&](CudaCheckpoint& cp) { return cp.Allocate(dptr, bytes, "cuMemAllocAsync"); }, \
                     [&] { return GPUCR_REAL(abi, dptr, bytes, stream); });                           \
    }
GPUCR_ALLOC_ASYNC(cuMemAllocAsync)
GPUCR_ALLOC_ASYNC(cuMemAllocAsync_ptsz)

#define GPUCR_ALLOC_POOL(abi)                                                                               \
    GPUCR_EXPORT CUresult abi(CUdeviceptr* dptr, size_t bytes, CUmemoryPool pool, CUstream stream) {       \
        return Entry([&](CudaCheckpoint& cp) { return cp.Allocate(dptr, bytes, "cuMemAllocFromPoolAsync"); }, \
                     [&] { return GPUCR_REAL(abi, dptr, bytes, pool, stream); });                          \
    }
GPUCR_ALLOC_POOL(cuMemAllocFromPoolAsync)
GPUCR_ALLOC_POOL(cuMemAllocFromPoolAsync_ptsz)

#define GPUCR_FREE_ASYNC(abi)                                                 \
    GPUCR_EXPORT CUresult abi(CUdeviceptr ptr, CUstream stream) {             \
        return Entry(                                                         \
            [&](CudaCheckpoint& cp) {                                         \
                CUresult r = CUDA_SUCCESS;                                    \
                if (cp.Free(ptr, stream, true, &r)) return r;                 \
                return GPUCR_REAL(abi, ptr, stream);                          \
            },                                                                \
            [&] { return GPUCR_REAL(abi, ptr, stream); });                    \
    }
GPUCR_FREE_ASYNC(cuMemFreeAsync)
GPUCR_FREE_ASYNC(cuMemFreeAsync_ptsz)

#define GPUCR_GET_GLOBAL(abi, Handle)                                                                       \
    GPUCR_EXPORT CUresult abi(CUdeviceptr* dptr, size_t* bytes, Handle owner, const char* name) {          \
        CUdeviceptr p = 0;                                                                                  \
        size_t n = 0;                                                                                       \
        if (!gpucr::cuda::LoadReal()) return CUDA_ERROR_NOT_INITIALIZED;                                   \
        CUresult r = GPUCR_REAL(abi, &p, &n, owner, name);                                                  \
        if (r != CUDA_SUCCESS) return r;                                                                    \
        if (dptr != nullptr) *dptr = p;                                                                     \
        if (bytes != nullptr) *bytes = n;                                                                   \
        Entry(                                                                                              \
            [&](CudaCheckpoint& cp) {                                                                       \
                cp.AddGlobal(p, n, name);                                                                   \
                return CUDA_SUCCESS;                                                                        \
            },                                                                                              \
            [] { return CUDA_SUCCESS; });                                                                   \
        return r;                                                                                           \
    }
GPUCR_GET_GLOBAL(cuModuleGetGlobal_v2, CUmodule)
GPUCR_GET_GLOBAL(cuLibraryGetGlobal, CUlibrary)

// ---------------------------------------------------------------------------------------------
// Launches

#define GPUCR_LAUNCH(abi, per_thread)                                                                       \
    GPUCR_EXPORT CUresult abi(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, \
                              unsigned bz, unsigned shared, CUstream stream, void** params, void** extra) {  \
        auto call = [&] { return GPUCR_REAL(abi, f, gx, gy, gz, bx, by, bz, shared, stream, params, extra); }; \
        return Launch(stream, per_thread, #abi, {f, params, extra}, call);                                   \
    }
GPUCR_LAUNCH(cuLaunchKernel, false)
GPUCR_LAUNCH(cuLaunchKernel_ptsz, true)

#define GPUCR_LAUNCH_COOP(abi, per_thread)                                                                  \
    GPUCR_EXPORT CUresult abi(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, \
                              unsigned bz, unsigned shared, CUstream stream, void** params) {                \
        auto call = [&] { return GPUCR_REAL(abi, f, gx, gy, gz, bx, by, bz, shared, stream, params); };      \
        return Launch(stream, per_thread, #abi, {f, params, nullptr}, call);                                 \
    }
GPUCR_LAUNCH_COOP(cuLaunchCooperativeKernel, false)
GPUCR_LAUNCH_COOP(cuLaunchCooperativeKernel_ptsz, true)

#define GPUCR_LAUNCH_EX(abi, per_thread)                                                                    \
    GPUCR_EXPORT CUresult abi(const CUlaunchConfig* config, CUfunction f, void** params, void** extra) {    \
        auto call = [&] { return GPUCR_REAL(abi, config, f, params, extra); };                              \
        CUstream stream = config != nullptr ? config->hStream : nullptr;                                    \
        return Launch(stream, per_thread, #abi, {f, params, extra}, call);                                  \
    }
GPUCR_LAUNCH_EX(cuLaunchKernelEx, false)
GPUCR_LAUNCH_EX(cuLaunchKernelEx_ptsz, true)

// ---------------------------------------------------------------------------------------------
// Copies and fills. Synchronous ones run on the legacy (or, _ptds, the per-thread) default stream.

#define GPUCR_HTOD(abi, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                      \
    GPUCR_EXPORT CUresult abi(CUdeviceptr dst, const void* src, size_t n ASYNC_PARAM) {                  \
        auto call = [&] { return GPUCR_REAL(abi, dst, src, n ASYNC_ARG); };                              \
        return Copy(STREAM, per_thread, OpKind::kUpdate, #abi, {.dst = dst, .bytes = n}, call);          \
    }
#define GPUCR_DTOH(abi, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                      \
    GPUCR_EXPORT CUresult abi(void* dst, CUdeviceptr src, size_t n ASYNC_PARAM) {                        \
        auto call = [&] { return GPUCR_REAL(abi, dst, src, n ASYNC_ARG); };                              \
        return Copy(STREAM, per_thread, OpKind::kHostRead, #abi, {.src = src, .bytes = n}, call);        \
    }
#define GPUCR_DTOD(abi, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                      \
    GPUCR_EXPORT CUresult abi(CUdeviceptr dst, CUdeviceptr src, size_t n ASYNC_PARAM) {                  \
        auto call = [&] { return GPUCR_REAL(abi, dst, src, n ASYNC_ARG); };                              \
        return Copy(STREAM, per_thread, OpKind::kCopy, #abi, {.dst = dst, .src = src, .bytes = n}, call); \
    }
#define GPUCR_PEER(abi, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                      \
    GPUCR_EXPORT CUresult abi(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx,          \
                              size_t n ASYNC_PARAM) {                                                    \
        auto call = [&] { return GPUCR_REAL(abi, dst, dctx, src, sctx, n ASYNC_ARG); };                  \
        return Copy(STREAM, per_thread, OpKind::kCopy, #abi, {.dst = dst, .src = src, .bytes = n}, call); \
    }
#define GPUCR_MEMSET(abi, T, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                  \
    GPUCR_EXPORT CUresult abi(CUdeviceptr dst, T value, size_t count ASYNC_PARAM) {                      \
        auto call = [&] { return GPUCR_REAL(abi, dst, value, count ASYNC_ARG); };                        \
        return Copy(STREAM, per_thread, OpKind::kFill, #abi, {.dst = dst, .bytes = count * sizeof(T)}, call); \
    }

#define GPUCR_SYNC_AND_ASYNC(MACRO, name, ...)                                                        \
    MACRO(name##_v2, false, , , nullptr)                                                              \
    MACRO(name##_v2_ptds, true, , , nullptr)                                                          \
    MACRO(name##Async_v2, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)             \
    MACRO(name##Async_v2_ptsz, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
#define GPUCR_COMMA ,

GPUCR_SYNC_AND_ASYNC(GPUCR_HTOD, cuMemcpyHtoD)
GPUCR_SYNC_AND_ASYNC(GPUCR_DTOH, cuMemcpyDtoH)
GPUCR_SYNC_AND_ASYNC(GPUCR_DTOD, cuMemcpyDtoD)

GPUCR_DTOD(cuMemcpy, false, , , nullptr)
GPUCR_DTOD(cuMemcpy_ptds, true, , , nullptr)
GPUCR_DTOD(cuMemcpyAsync, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_DTOD(cuMemcpyAsync_ptsz, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_PEER(cuMemcpyPeer, false, , , nullptr)
GPUCR_PEER(cuMemcpyPeer_ptds, true, , , nullptr)
GPUCR_PEER(cuMemcpyPeerAsync, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_PEER(cuMemcpyPeerAsync_ptsz, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)

GPUCR_MEMSET(cuMemsetD8_v2, unsigned char, false, , , nullptr)
GPUCR_MEMSET(cuMemsetD8_v2_ptds, unsigned char, true, , , nullptr)
GPUCR_MEMSET(cuMemsetD16_v2, unsigned short, false, , , nullptr)
GPUCR_MEMSET(cuMemsetD16_v2_ptds, unsigned short, true, , , nullptr)
GPUCR_MEMSET(cuMemsetD32_v2, unsigned int, false, , , nullptr)
GPUCR_MEMSET(cuMemsetD32_v2_ptds, unsigned int, true, , , nullptr)
GPUCR_MEMSET(cuMemsetD8Async, unsigned char, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_MEMSET(cuMemsetD8Async_ptsz, unsigned char, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_MEMSET(cuMemsetD16Async, unsigned short, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_MEMSET(cuMemsetD16Async_ptsz, unsigned short, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_MEMSET(cuMemsetD32Async, unsigned int, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_MEMSET(cuMemsetD32Async_ptsz, unsigned int, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)

#define GPUCR_COPY_ND(abi, Desc, per_thread, ASYNC_PARAM, ASYNC_ARG, STREAM)                                 \
    GPUCR_EXPORT CUresult abi(const Desc* d ASYNC_PARAM) {                                                    \
        auto call = [&] { return GPUCR_REAL(abi, d ASYNC_ARG); };                                             \
        CopyArgs args{.whole = true};                                                                         \
        if (d != nullptr) {                                                                                   \
            args.dst = DevicePart(d->dstMemoryType, d->dstDevice);                                            \
            args.src = DevicePart(d->srcMemoryType, d->srcDevice);                                            \
        }                                                                                                     \
        return Copy(STREAM, per_thread, OpKind::kCopy, #abi, args, call);                                     \
    }
GPUCR_COPY_ND(cuMemcpy2D_v2, CUDA_MEMCPY2D, false, , , nullptr)
GPUCR_COPY_ND(cuMemcpy2D_v2_ptds, CUDA_MEMCPY2D, true, , , nullptr)
GPUCR_COPY_ND(cuMemcpy2DUnaligned_v2, CUDA_MEMCPY2D, false, , , nullptr)
GPUCR_COPY_ND(cuMemcpy2DUnaligned_v2_ptds, CUDA_MEMCPY2D, true, , , nullptr)
GPUCR_COPY_ND(cuMemcpy2DAsync_v2, CUDA_MEMCPY2D, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_COPY_ND(cuMemcpy2DAsync_v2_ptsz, CUDA_MEMCPY2D, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_COPY_ND(cuMemcpy3D_v2, CUDA_MEMCPY3D, false, , , nullptr)
GPUCR_COPY_ND(cuMemcpy3D_v2_ptds, CUDA_MEMCPY3D, true, , , nullptr)
GPUCR_COPY_ND(cuMemcpy3DAsync_v2, CUDA_MEMCPY3D, false, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)
GPUCR_COPY_ND(cuMemcpy3DAsync_v2_ptsz, CUDA_MEMCPY3D, true, GPUCR_COMMA CUstream stream, GPUCR_COMMA stream, stream)

// ---------------------------------------------------------------------------------------------
// Objects: streams and modules pass through (the driver's checkpoint keeps them); state gpucr
// cannot capture is remembered, and a dump refuses while the process holds it.

GPUCR_EXPORT CUresult cuStreamCreate(CUstream* s, unsigned int flags) { return GPUCR_REAL(cuStreamCreate, s, flags); }
GPUCR_EXPORT CUresult cuStreamCreateWithPriority(CUstream* s, unsigned int flags, int priority) {
    return GPUCR_REAL(cuStreamCreateWithPriority, s, flags, priority);
}
GPUCR_EXPORT CUresult cuStreamDestroy_v2(CUstream s) { return GPUCR_REAL(cuStreamDestroy_v2, s); }
GPUCR_EXPORT CUresult cuModuleLoadData(CUmodule* m, const void* image) { return GPUCR_REAL(cuModuleLoadData, m, image); }
GPUCR_EXPORT CUresult cuModuleLoadDataEx(CUmodule* m, const void* image, unsigned int n, CUjit_option* o, void** v) {
    return GPUCR_REAL(cuModuleLoadDataEx, m, image, n, o, v);
}
GPUCR_EXPORT CUresult cuModuleLoadFatBinary(CUmodule* m, const void* fatbin) {
    return GPUCR_REAL(cuModuleLoadFatBinary, m, fatbin);
}
GPUCR_EXPORT CUresult cuLibraryLoadData(CUlibrary* l, const void* code, CUjit_option* jo, void** jv, unsigned int jn,
                                        CUlibraryOption* lo, void** lv, unsigned int ln) {
    return GPUCR_REAL(cuLibraryLoadData, l, code, jo, jv, jn, lo, lv, ln);
}

GPUCR_EXPORT CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytes, unsigned int flags) {
    return Refusing("managed memory (cuMemAllocManaged)", [&] { return GPUCR_REAL(cuMemAllocManaged, dptr, bytes, flags); });
}
GPUCR_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle* h, CUdeviceptr p) {
    return Refusing("IPC memory handles (cuIpcGetMemHandle)", [&] { return GPUCR_REAL(cuIpcGetMemHandle, h, p); });
}
GPUCR_EXPORT CUresult cuIpcOpenMemHandle_v2(CUdeviceptr* p, CUipcMemHandle h, unsigned int flags) {
    return Refusing("IPC memory of another process (cuIpcOpenMemHandle)",
                    [&] { return GPUCR_REAL(cuIpcOpenMemHandle_v2, p, h, flags); });
}
GPUCR_EXPORT CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
    return Refusing("CUDA graphs (stream capture)", [&] { return GPUCR_REAL(cuStreamBeginCapture_v2, s, mode); });
}
GPUCR_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
    return Refusing("CUDA graphs (stream capture)", [&] { return GPUCR_REAL(cuStreamBeginCapture_v2_ptsz, s, mode); });
}
GPUCR_EXPORT CUresult cuGraphCreate(CUgraph* g, unsigned int flags) {
    return Refusing("CUDA graphs (cuGraphCreate)", [&] { return GPUCR_REAL(cuGraphCreate, g, flags); });
}
GPUCR_EXPORT CUresult cuTexObjectCreate(CUtexObject* t, const CUDA_RESOURCE_DESC* r, const CUDA_TEXTURE_DESC* d,
                                        const CUDA_RESOURCE_VIEW_DESC* v) {
    return Refusing("texture objects (cuTexObjectCreate)", [&] { return GPUCR_REAL(cuTexObjectCreate, t, r, d, v); });
}
GPUCR_EXPORT CUresult cuSurfObjectCreate(CUsurfObject* s, const CUDA_RESOURCE_DESC* r) {
    return Refusing("surface objects (cuSurfObjectCreate)", [&] { return GPUCR_REAL(cuSurfObjectCreate, s, r); });
}
GPUCR_EXPORT CUresult cuMemAddressReserve(CUdeviceptr* p, size_t size, size_t align, CUdeviceptr addr,
                                          unsigned long long flags) {
    return Refusing("the application's own virtual memory management (cuMemAddressReserve)",
                    [&] { return GPUCR_REAL(cuMemAddressReserve, p, size, align, addr, flags); });
}
GPUCR_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle* h, size_t size, const CUmemAllocationProp* prop,
                                  unsigned long long flags) {
    return Refusing("the application's own virtual memory management (cuMemCreate)",
                    [&] { return GPUCR_REAL(cuMemCreate, h, size, prop, flags); });
}

// ---------------------------------------------------------------------------------------------
// How entry points are found.

namespace {

// Real pointer of a wrapped function -> gpucr's wrapper.
const std::unordered_map<void*, void*>& Substitutes() {
    static const std::unordered_map<void*, void*> map = [] {
        std::unordered_map<void*, void*> m;
#define GPUCR_CU_SUBST(abi, decl) \
    if (Real().abi != nullptr) m[reinterpret_cast<void*>(Real().abi)] = reinterpret_cast<void*>(&::abi);
        GPUCR_CU_WRAPPED(GPUCR_CU_SUBST)
#undef GPUCR_CU_SUBST
        return m;
    }();
    return map;
}

void* Substitute(void* real) noexcept;

}  // namespace

GPUCR_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int version, cuuint64_t flags,
                                          CUdriverProcAddressQueryResult* status) {
    if (!gpucr::cuda::LoadReal() || Real().cuGetProcAddress_v2 == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
    CUresult r = Real().cuGetProcAddress_v2(symbol, pfn, version, flags, status);
    if (r == CUDA_SUCCESS && pfn != nullptr && *pfn != nullptr) *pfn = Substitute(*pfn);
    return r;
}

// The first version of cuGetProcAddress (CUDA 11.3), under its own name (cuda.h maps the name
// to _v2).
#undef cuGetProcAddress
GPUCR_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int version, cuuint64_t flags) {
    if (!gpucr::cuda::LoadReal() || Real().get_proc_address_v1 == nullptr) return CUDA_ERROR_NOT_INITIALIZED;
    CUresult r = Real().get_proc_address_v1(symbol, pfn, version, flags);
    if (r == CUDA_SUCCESS && pfn != nullptr && *pfn != nullptr) *pfn = Substitute(*pfn);
    return r;
}

namespace {

void* Substitute(void* real) noexcept {
    if (real == nullptr || gpucr::cuda::InLoad() || !gpucr::cuda::LoadReal()) return real;
    if (std::getenv("GPUCR_DISABLE") != nullptr && std::getenv("GPUCR_DISABLE")[0] == '1') return real;
    try {
        if (real == reinterpret_cast<void*>(Real().cuGetProcAddress_v2)) return reinterpret_cast<void*>(&::cuGetProcAddress_v2);
        if (real == reinterpret_cast<void*>(Real().get_proc_address_v1)) return reinterpret_cast<void*>(&::cuGetProcAddress);
        const auto& m = Substitutes();
        auto it = m.find(real);
        return it == m.end() ? real : it->second;
    } catch (...) {
        return real;
    }
}

// dlsym(RTLD_NEXT, name) on behalf of `caller`: the first definition in an object loaded after
// the caller's (the real dlsym would search after gpucr's library instead).
void* NextSymbol(const void* caller, const char* name) {
    struct Objects {
        const void* caller;
        int caller_index = -1;
        std::vector<std::string> names;
    } objs{caller};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            auto* o = static_cast<Objects*>(data);
            const auto at = reinterpret_cast<uintptr_t>(o->caller);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
                if (ph.p_type == PT_LOAD && at >= start && at < start + ph.p_memsz) {
                    o->caller_index = static_cast<int>(o->names.size());
                }
            }
            o->names.emplace_back(info->dlpi_name != nullptr ? info->dlpi_name : "");
            return 0;
        },
        &objs);
    for (size_t i = static_cast<size_t>(objs.caller_index + 1); i < objs.names.size(); ++i) {
        void* h = dlopen(objs.names[i].empty() ? nullptr : objs.names[i].c_str(), RTLD_LAZY | RTLD_NOLOAD);
        if (h == nullptr) continue;
        void* p = gpucr::cuda::RealDlsym(h, name);
        dlclose(h);
        if (p != nullptr) return p;
    }
    return nullptr;
}

}  // namespace

GPUCR_EXPORT void* dlsym(void* handle, const char* name) {
    void* p = handle == RTLD_NEXT ? NextSymbol(__builtin_return_address(0), name)
                                  : gpucr::cuda::RealDlsym(handle, name);
    if (p != nullptr && name != nullptr && name[0] == 'c' && name[1] == 'u') p = Substitute(p);
    return p;
}
