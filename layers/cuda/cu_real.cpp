#include "layers/cuda/cu_real.h"

#include <dlfcn.h>

#include <mutex>

#include "dag/log.h"

namespace gpucr::cuda {
namespace {

RealApi g_real;
bool g_loaded = false;
bool g_complete = false;
thread_local bool t_in_load = false;

using DlsymFn = void* (*)(void*, const char*);

DlsymFn FindDlsym() {
    // glibc 2.34 moved dlsym into libc; older ones version it GLIBC_2.2.5 (x86-64).
    for (const char* version : {"GLIBC_2.34", "GLIBC_2.2.5"}) {
        if (void* p = dlvsym(RTLD_NEXT, "dlsym", version)) return reinterpret_cast<DlsymFn>(p);
    }
    return nullptr;
}

bool Load() {
    g_real.dlsym = FindDlsym();
    if (g_real.dlsym == nullptr) {
        GPUCR_LOG_ERROR("cuda", "the C library's dlsym was not found; CUDA calls pass through untouched");
        return false;
    }
    const char* name = "libcuda.so.1";
    g_real.libcuda = dlopen(name, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (g_real.libcuda == nullptr) g_real.libcuda = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
    if (g_real.libcuda == nullptr) {
        GPUCR_LOG_INFO("cuda", "{} not loadable ({}); CUDA calls pass through untouched", name, dlerror());
        return false;
    }
    auto sym = [](const char* n) { return g_real.dlsym(g_real.libcuda, n); };
    bool complete = true;
#define GPUCR_CU_RESOLVE(abi, decl) g_real.abi = reinterpret_cast<decltype(g_real.abi)>(sym(#abi));
    GPUCR_CU_WRAPPED(GPUCR_CU_RESOLVE)
    GPUCR_CU_USED(GPUCR_CU_RESOLVE)
    GPUCR_CU_OPTIONAL(GPUCR_CU_RESOLVE)
#undef GPUCR_CU_RESOLVE
#define GPUCR_CU_REQUIRE(abi, decl)                                                     \
    if (g_real.abi == nullptr) {                                                        \
        GPUCR_LOG_WARN("cuda", "the driver has no {}; CUDA calls pass through untouched", #abi); \
        complete = false;                                                               \
    }
    GPUCR_CU_USED(GPUCR_CU_REQUIRE)
#undef GPUCR_CU_REQUIRE
    g_real.cuGetProcAddress_v2 = reinterpret_cast<decltype(g_real.cuGetProcAddress_v2)>(sym("cuGetProcAddress_v2"));
    g_real.get_proc_address_v1 = reinterpret_cast<decltype(g_real.get_proc_address_v1)>(sym("cuGetProcAddress"));
    g_complete = complete;
    return true;
}

}  // namespace

bool LoadReal() noexcept {
    static std::once_flag once;
    try {
        std::call_once(once, [] {
            t_in_load = true;
            g_loaded = Load();
            t_in_load = false;
        });
    } catch (...) {
        return false;
    }
    return g_loaded;
}

const RealApi& Real() noexcept { return g_real; }
bool RealComplete() noexcept { return g_loaded && g_complete; }
bool InLoad() noexcept { return t_in_load; }

void* RealDlsym(void* handle, const char* name) noexcept {
    static DlsymFn real = FindDlsym();
    return real != nullptr ? real(handle, name) : nullptr;
}

const char* ErrorName(CUresult r) noexcept {
    const char* s = nullptr;
    if (g_real.cuGetErrorString != nullptr && g_real.cuGetErrorString(r, &s) == CUDA_SUCCESS && s != nullptr) return s;
    return "unknown CUDA error";
}

}  // namespace gpucr::cuda
