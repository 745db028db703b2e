// status.h — the error vocabulary of gpucr's core.
//
// Every fallible function inside gpucr returns a Status or a Result<T>. Callers propagate
// with GPUCR_RETURN_IF_ERROR / GPUCR_ASSIGN_OR_RETURN. Front-ends turn a Status into an API
// error code in exactly one place per API; the CLI prints Status::message() as its one-line error.
//
//   Result<int> ParsePid(std::string_view s);
//   Status Dump(...) {
//       GPUCR_ASSIGN_OR_RETURN(int pid, ParsePid(arg));
//       GPUCR_RETURN_IF_ERROR(Connect(pid));
//       return Status::Ok();
//   }
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gpucr {

enum class Code : int {
    kOk = 0,
    kInvalidArgument,    // caller passed something wrong (bad flag, bad path)
    kNotFound,           // a named thing does not exist (PID without agent, missing file)
    kAlreadyExists,      // target exists (non-empty dump directory)
    kUnsupported,        // the application uses state gpucr cannot capture; refuse, never guess
    kDataLoss,           // an image is damaged (bad checksum, truncated)
    kFailedPrecondition, // wrong state for the request (already suspended, dump running)
    kPermissionDenied,   // peer of another uid
    kUnavailable,        // transient: socket gone, process exited
    kInternal,           // broken invariant or unexpected API failure
    kIo,                 // operating-system I/O error
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status Ok() { return Status(); }

    bool ok() const { return code_ == Code::kOk; }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }
    // "<message>" for ok-less display; code name is for logs and JSON.
    std::string ToString() const;

private:
    Code code_ = Code::kOk;
    std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIo, std::move(m)}; }
// IoError with strerror(errno) appended: "what: strerror".
Status ErrnoError(const std::string& what, int err);

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status status) : v_(std::move(status)) {}  // NOLINT

    bool ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }

private:
    std::variant<T, Status> v_;
};

}  // namespace gpucr

#define GPUCR_CONCAT_INNER(a, b) a##b
#define GPUCR_CONCAT(a, b) GPUCR_CONCAT_INNER(a, b)

#define GPUCR_RETURN_IF_ERROR(expr)                 \
    do {                                            \
        ::gpucr::Status gpucr_status_ = (expr);     \
        if (!gpucr_status_.ok()) return gpucr_status_; \
    } while (0)

#define GPUCR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                              \
    if (!tmp.ok()) return tmp.status();             \
    lhs = std::move(tmp).value()

#define GPUCR_ASSIGN_OR_RETURN(lhs, expr) \
    GPUCR_ASSIGN_OR_RETURN_IMPL(GPUCR_CONCAT(gpucr_result_, __LINE__), lhs, expr)
