#include "dag/status.h"

#include <cstring>

namespace gpucr {

const char* CodeName(Code code) {
    switch (code) {
        case Code::kOk: return "ok";
        case Code::kInvalidArgument: return "invalid_argument";
        case Code::kNotFound: return "not_found";
        case Code::kAlreadyExists: return "already_exists";
        case Code::kUnsupported: return "unsupported";
        case Code::kDataLoss: return "data_loss";
        case Code::kFailedPrecondition: return "failed_precondition";
        case Code::kPermissionDenied: return "permission_denied";
        case Code::kUnavailable: return "unavailable";
        case Code::kInternal: return "internal";
        case Code::kIo: return "io";
    }
    return "unknown";
}

std::string Status::ToString() const {
    if (ok()) return "ok";
    return std::string(CodeName(code_)) + ": " + message_;
}

Status ErrnoError(const std::string& what, int err) { return IoError(what + ": " + std::strerror(err)); }

}  // namespace gpucr
