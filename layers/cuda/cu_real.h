// cu_real.h — the real CUDA driver behind gpucr's interposer: libcuda's own entry points.
//
// libgpucr_cuda.so is preloaded (gpucr run --api cuda), so the application's references to cu*
// symbols, the runtime's cuGetProcAddress lookups and libraries' dlsym(libcuda, ...) calls all
// reach gpucr first (cu_hooks.cpp). Everything gpucr itself calls, and every call it forwards,
// goes to the pointers here, resolved from libcuda.so.1 with the real dlsym.
//
//   if (!cuda::LoadReal()) return pass_through;         // no driver: gpucr stays out of the way
//   CUresult r = cuda::Real().cuMemAlloc_v2(&ptr, n);   // the driver's cuMemAlloc_v2
#pragma once

#include <cuda.h>

namespace gpucr::cuda {

// Entry points gpucr wraps. X(abi_name, declared_name): abi_name is the symbol libcuda exports,
// declared_name the cuda.h declaration with the same signature (per-thread-stream variants,
// _ptsz/_ptds, have the signature of their default-stream counterpart).
#define GPUCR_CU_WRAPPED(X)                                \
    X(cuMemAlloc_v2, cuMemAlloc)                           \
    X(cuMemAllocPitch_v2, cuMemAllocPitch)                 \
    X(cuMemFree_v2, cuMemFree)                             \
    X(cuMemAllocAsync, cuMemAllocAsync)                    \
    X(cuMemAllocAsync_ptsz, cuMemAllocAsync)               \
    X(cuMemFreeAsync, cuMemFreeAsync)                      \
    X(cuMemFreeAsync_ptsz, cuMemFreeAsync)                 \
    X(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync)    \
    X(cuMemAllocFromPoolAsync_ptsz, cuMemAllocFromPoolAsync) \
    X(cuLaunchKernel, cuLaunchKernel)                      \
    X(cuLaunchKernel_ptsz, cuLaunchKernel)                 \
    X(cuLaunchKernelEx, cuLaunchKernelEx)                  \
    X(cuLaunchKernelEx_ptsz, cuLaunchKernelEx)             \
    X(cuLaunchCooperativeKernel, cuLaunchCooperativeKernel) \
    X(cuLaunchCooperativeKernel_ptsz, cuLaunchCooperativeKernel) \
    X(cuMemcpyHtoD_v2, cuMemcpyHtoD)                       \
    X(cuMemcpyHtoD_v2_ptds, cuMemcpyHtoD)                  \
    X(cuMemcpyDtoH_v2, cuMemcpyDtoH)                       \
    X(cuMemcpyDtoH_v2_ptds, cuMemcpyDtoH)                  \
    X(cuMemcpyDtoD_v2, cuMemcpyDtoD)                       \
    X(cuMemcpyDtoD_v2_ptds, cuMemcpyDtoD)                  \
    X(cuMemcpy, cuMemcpy)                                  \
    X(cuMemcpy_ptds, cuMemcpy)                             \
    X(cuMemcpyPeer, cuMemcpyPeer)                          \
    X(cuMemcpyPeer_ptds, cuMemcpyPeer)                     \
    X(cuMemsetD8_v2, cuMemsetD8)                           \
    X(cuMemsetD8_v2_ptds, cuMemsetD8)                      \
    X(cuMemsetD16_v2, cuMemsetD16)                         \
    X(cuMemsetD16_v2_ptds, cuMemsetD16)                    \
    X(cuMemsetD32_v2, cuMemsetD32)                         \
    X(cuMemsetD32_v2_ptds, cuMemsetD32)                    \
    X(cuMemcpyHtoDAsync_v2, cuMemcpyHtoDAsync)             \
    X(cuMemcpyHtoDAsync_v2_ptsz, cuMemcpyHtoDAsync)        \
    X(cuMemcpyDtoHAsync_v2, cuMemcpyDtoHAsync)             \
    X(cuMemcpyDtoHAsync_v2_ptsz, cuMemcpyDtoHAsync)        \
    X(cuMemcpyDtoDAsync_v2, cuMemcpyDtoDAsync)             \
    X(cuMemcpyDtoDAsync_v2_ptsz, cuMemcpyDtoDAsync)        \
    X(cuMemcpyAsync, cuMemcpyAsync)                        \
    X(cuMemcpyAsync_ptsz, cuMemcpyAsync)                   \
    X(cuMemcpyPeerAsync, cuMemcpyPeerAsync)                \
    X(cuMemcpyPeerAsync_ptsz, cuMemcpyPeerAsync)           \
    X(cuMemsetD8Async, cuMemsetD8Async)                    \
    X(cuMemsetD8Async_ptsz, cuMemsetD8Async)               \
    X(cuMemsetD16Async, cuMemsetD16Async)                  \
    X(cuMemsetD16Async_ptsz, cuMemsetD16Async)             \
    X(cuMemsetD32Async, cuMemsetD32Async)                  \
    X(cuMemsetD32Async_ptsz, cuMemsetD32Async)             \
    X(cuMemcpy2D_v2, cuMemcpy2D)                           \
    X(cuMemcpy2D_v2_ptds, cuMemcpy2D)                      \
    X(cuMemcpy2DUnaligned_v2, cuMemcpy2DUnaligned)         \
    X(cuMemcpy2DUnaligned_v2_ptds, cuMemcpy2DUnaligned)    \
    X(cuMemcpy2DAsync_v2, cuMemcpy2DAsync)                 \
    X(cuMemcpy2DAsync_v2_ptsz, cuMemcpy2DAsync)            \
    X(cuMemcpy3D_v2, cuMemcpy3D)                           \
    X(cuMemcpy3D_v2_ptds, cuMemcpy3D)                      \
    X(cuMemcpy3DAsync_v2, cuMemcpy3DAsync)                 \
    X(cuMemcpy3DAsync_v2_ptsz, cuMemcpy3DAsync)            \
    X(cuModuleGetGlobal_v2, cuModuleGetGlobal)             \
    X(cuLibraryGetGlobal, cuLibraryGetGlobal)              \
    X(cuStreamCreate, cuStreamCreate)                      \
    X(cuStreamCreateWithPriority, cuStreamCreateWithPriority) \
    X(cuStreamDestroy_v2, cuStreamDestroy)                 \
    X(cuModuleLoadData, cuModuleLoadData)                  \
    X(cuModuleLoadDataEx, cuModuleLoadDataEx)              \
    X(cuModuleLoadFatBinary, cuModuleLoadFatBinary)        \
    X(cuLibraryLoadData, cuLibraryLoadData)                \
    X(cuMemAllocManaged, cuMemAllocManaged)                \
    X(cuIpcGetMemHandle, cuIpcGetMemHandle)                \
    X(cuIpcOpenMemHandle_v2, cuIpcOpenMemHandle)           \
    X(cuStreamBeginCapture_v2, cuStreamBeginCapture)       \
    X(cuStreamBeginCapture_v2_ptsz, cuStreamBeginCapture)  \
    X(cuGraphCreate, cuGraphCreate)                        \
    X(cuTexObjectCreate, cuTexObjectCreate)                \
    X(cuSurfObjectCreate, cuSurfObjectCreate)              \
    X(cuMemAddressReserve, cuMemAddressReserve)            \
    X(cuMemCreate, cuMemCreate)

// Entry points gpucr calls itself and never wraps.
#define GPUCR_CU_USED(X)                                          \
    X(cuInit, cuInit)                                             \
    X(cuGetErrorString, cuGetErrorString)                         \
    X(cuDeviceGet, cuDeviceGet)                                   \
    X(cuDeviceGetCount, cuDeviceGetCount)                         \
    X(cuDeviceGetName, cuDeviceGetName)                           \
    X(cuDeviceGetUuid_v2, cuDeviceGetUuid_v2)                     \
    X(cuCtxGetCurrent, cuCtxGetCurrent)                           \
    X(cuCtxPushCurrent_v2, cuCtxPushCurrent)                      \
    X(cuCtxPopCurrent_v2, cuCtxPopCurrent)                        \
    X(cuCtxGetDevice, cuCtxGetDevice)                             \
    X(cuCtxSynchronize, cuCtxSynchronize)                         \
    X(cuStreamGetCtx, cuStreamGetCtx)                             \
    X(cuStreamSynchronize, cuStreamSynchronize)                   \
    X(cuEventCreate, cuEventCreate)                               \
    X(cuEventRecord, cuEventRecord)                               \
    X(cuEventQuery, cuEventQuery)                                 \
    X(cuEventSynchronize, cuEventSynchronize)                     \
    X(cuEventDestroy_v2, cuEventDestroy)                          \
    X(cuMemGetInfo_v2, cuMemGetInfo)                              \
    X(cuMemHostRegister_v2, cuMemHostRegister)                    \
    X(cuMemHostUnregister, cuMemHostUnregister)                   \
    X(cuMemHostAlloc, cuMemHostAlloc)                             \
    X(cuMemFreeHost, cuMemFreeHost)                               \
    X(cuMemRelease, cuMemRelease)                                 \
    X(cuMemMap, cuMemMap)                                         \
    X(cuMemUnmap, cuMemUnmap)                                     \
    X(cuMemSetAccess, cuMemSetAccess)                             \
    X(cuMemGetAllocationGranularity, cuMemGetAllocationGranularity) \
    X(cuMemAddressFree, cuMemAddressFree)

// Entry points gpucr uses when the driver has them (older drivers lack some).
#define GPUCR_CU_OPTIONAL(X)                         \
    X(cuKernelGetParamInfo, cuKernelGetParamInfo)    \
    X(cuFuncGetParamInfo, cuFuncGetParamInfo)

struct RealApi {
#define GPUCR_CU_FIELD(abi, decl) decltype(&::decl) abi = nullptr;
    GPUCR_CU_WRAPPED(GPUCR_CU_FIELD)
    GPUCR_CU_USED(GPUCR_CU_FIELD)
    GPUCR_CU_OPTIONAL(GPUCR_CU_FIELD)
#undef GPUCR_CU_FIELD
    void* (*dlsym)(void*, const char*) = nullptr;
    CUresult (*cuGetProcAddress_v2)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*) = nullptr;
    CUresult (*get_proc_address_v1)(const char*, void**, int, cuuint64_t) = nullptr;  // cuGetProcAddress
    void* libcuda = nullptr;
};

// The real driver, loaded on first use (thread-safe). False when libcuda.so.1 cannot be loaded.
bool LoadReal() noexcept;
// True when the driver has every entry point gpucr needs (after LoadReal); otherwise the
// interposer forwards everything untouched.
bool RealComplete() noexcept;
// True on the thread that is loading the driver (LoadReal in progress): gpucr's dlsym must not
// substitute anything there.
bool InLoad() noexcept;
const RealApi& Real() noexcept;

// The real dlsym (glibc's), found without going through gpucr's own dlsym.
void* RealDlsym(void* handle, const char* name) noexcept;

// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for logs and errors.
const char* ErrorName(CUresult r) noexcept;

}  // namespace gpucr::cuda
