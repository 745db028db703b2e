// cu_util.h — small helpers of the CUDA backend.
//
//   { CtxScope in(ctx); Real().cuEventRecord(ev, stream); }  // ctx current for the scope
#pragma once

#include <cuda.h>

#include "layers/cuda/cu_real.h"

namespace gpucr::cuda {

// Makes `ctx` current on this thread for the scope (push/pop, so an application thread's own
// current context is left as it was). A null ctx changes nothing.
class CtxScope {
public:
    explicit CtxScope(CUcontext ctx) noexcept {
        if (ctx != nullptr && Real().cuCtxPushCurrent_v2(ctx) == CUDA_SUCCESS) pushed_ = true;
    }
    ~CtxScope() {
        if (pushed_) {
            CUcontext popped = nullptr;
            Real().cuCtxPopCurrent_v2(&popped);
        }
    }
    CtxScope(const CtxScope&) = delete;
    CtxScope& operator=(const CtxScope&) = delete;

private:
    bool pushed_ = false;
};

}  // namespace gpucr::cuda
