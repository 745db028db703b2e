// gate.h — the OpenCL shim's suspend gate (dag/gate.h, the OpenCL instance): every entry point that
// reaches a real ICD object enters it first (rules.json "ungated" lists those that do not); blocking
// waits (hooks_wait.cpp) enter it only to poll, so that they never hold a suspend up.
//
//   cl_int clFlush(cl_command_queue q) noexcept { try { GateScope gate; ... } catch (...) { ... } }
#pragma once

#include "dag/gate.h"

namespace gpucr::cl {

inline gate::Gate& OpenClGate() noexcept { return gate::ForApi(gate::Api::kOpenCl); }

class GateScope : public gate::Scope {
public:
    GateScope() noexcept : gate::Scope(OpenClGate()) {}
};

}  // namespace gpucr::cl
