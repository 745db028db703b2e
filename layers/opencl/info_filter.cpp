#include "layers/opencl/info_filter.h"

namespace gpucr::cl {

bool IsHiddenExtension(const char* name, size_t len) {
    for (size_t i = 0; i < kHiddenExtensionCount; ++i) {
        if (std::strlen(kHiddenExtensions[i]) == len && std::strncmp(kHiddenExtensions[i], name, len) == 0) return true;
    }
    return false;
}

bool IsFilteredExtensionQuery(cl_uint param_name) {
    return param_name == CL_PLATFORM_EXTENSIONS || param_name == CL_PLATFORM_EXTENSIONS_WITH_VERSION ||
           param_name == CL_DEVICE_EXTENSIONS || param_name == CL_DEVICE_EXTENSIONS_WITH_VERSION;
}

std::string FilterExtensionString(const std::string& list) {
    // Keep the separators as they were; drop a hidden name together with the blank after it.
    std::string out;
    size_t i = 0;
    while (i < list.size()) {
        size_t b = list.find_first_not_of(' ', i);
        out.append(list, i, (b == std::string::npos ? list.size() : b) - i);
        if (b == std::string::npos) break;
        size_t e = list.find(' ', b);
        if (e == std::string::npos) e = list.size();
        if (IsHiddenExtension(list.data() + b, e - b)) {
            i = e < list.size() ? e + 1 : e;
        } else {
            out.append(list, b, e - b);
            i = e;
        }
    }
    return out;
}

cl_int FilteredInfo(const std::function<cl_int(size_t, void*, size_t*)>& query, cl_uint param_name,
                    size_t param_value_size, void* param_value, size_t* param_value_size_ret) {
    size_t n = 0;
    cl_int r = query(0, nullptr, &n);
    if (r != CL_SUCCESS) return r;
    std::vector<char> raw(n);
    r = query(n, raw.data(), nullptr);
    if (r != CL_SUCCESS) return r;
    std::vector<char> out;
    if (param_name == CL_PLATFORM_EXTENSIONS || param_name == CL_DEVICE_EXTENSIONS) {
        std::string s = FilterExtensionString(std::string(raw.data(), strnlen(raw.data(), raw.size())));
        out.assign(s.begin(), s.end());
        out.push_back('\0');
    } else {
        const auto* nv = reinterpret_cast<const cl_name_version*>(raw.data());
        for (size_t i = 0; i < n / sizeof(cl_name_version); ++i) {
            if (IsHiddenExtension(nv[i].name, strnlen(nv[i].name, CL_NAME_VERSION_MAX_NAME_SIZE))) continue;
            const char* b = reinterpret_cast<const char*>(&nv[i]);
            out.insert(out.end(), b, b + sizeof(cl_name_version));
        }
    }
    if (param_value != nullptr) {
        if (param_value_size < out.size()) return CL_INVALID_VALUE;
        std::memcpy(param_value, out.data(), out.size());
    }
    if (param_value_size_ret != nullptr) *param_value_size_ret = out.size();
    return CL_SUCCESS;
}

}  // namespace gpucr::cl
