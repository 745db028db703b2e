#include "layers/opencl/icd.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "dag/log.h"
#include "layers/opencl/describe.h"
#include "layers/opencl/dispatch.h"
#include "layers/opencl/object_table.h"

namespace gpucr::cl {
namespace {

constexpr const char* kDefaultVendorDir = "/etc/OpenCL/vendors";
constexpr const char* kShimMarker = "gpucr_opencl_shim";  // exported by every gpucr shim (shim.map)

std::string Env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

bool IsDirectory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The library an .icd file names: its first line, trimmed.
std::string ReadIcdFile(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    const char* ws = " \t\r\n";
    size_t b = line.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return line.substr(b, line.find_last_not_of(ws) - b + 1);
}

std::vector<std::string> LibrariesInDir(const std::string& dir) {
    std::vector<std::string> files;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (EndsWith(name, ".icd")) files.push_back(dir + "/" + name);
        }
        ::closedir(d);
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> libs;
    for (const std::string& f : files) {
        std::string lib = ReadIcdFile(f);
        if (!lib.empty()) libs.push_back(lib);
    }
    return libs;
}

// A vendor specification as ocl-icd reads OCL_ICD_VENDORS: a directory of .icd files, one .icd
// file (a bare name is looked for in the vendor directory first), or a library.
std::vector<std::string> LibrariesFrom(const std::string& spec, const std::string& vendor_dir) {
    if (IsDirectory(spec)) return LibrariesInDir(spec);
    if (EndsWith(spec, ".icd")) {
        std::string lib;
        if (spec.find('/') == std::string::npos) lib = ReadIcdFile(vendor_dir + "/" + spec);
        if (lib.empty()) lib = ReadIcdFile(spec);
        return lib.empty() ? std::vector<std::string>{} : std::vector<std::string>{lib};
    }
    return {spec};
}

Icd* LoadIcd(const std::string& path) {
    void* h = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) {
        const char* err = ::dlerror();
        GPUCR_LOG_WARN("cl", "cannot load OpenCL ICD {}: {}", path, err != nullptr ? err : "?");
        return nullptr;
    }
    if (::dlsym(h, kShimMarker) != nullptr) {
        GPUCR_LOG_DEBUG("cl", "skipping {}: a gpucr shim", path);
        ::dlclose(h);
        return nullptr;
    }
    auto icd = std::make_unique<Icd>();
    icd->path = path;
    icd->handle = h;
    icd->get_extension_function =
        reinterpret_cast<decltype(icd->get_extension_function)>(::dlsym(h, "clGetExtensionFunctionAddress"));
    icd->get_platform_ids = reinterpret_cast<clIcdGetPlatformIDsKHR_fn>(::dlsym(h, "clIcdGetPlatformIDsKHR"));
    if (icd->get_platform_ids == nullptr && icd->get_extension_function != nullptr) {
        icd->get_platform_ids =
            reinterpret_cast<clIcdGetPlatformIDsKHR_fn>(icd->get_extension_function("clIcdGetPlatformIDsKHR"));
    }
    cl_uint n = 0;
    if (icd->get_extension_function == nullptr || icd->get_platform_ids == nullptr ||
        icd->get_platform_ids(0, nullptr, &n) != CL_SUCCESS || n == 0) {
        GPUCR_LOG_WARN("cl", "{} is no usable OpenCL ICD (no cl_khr_icd entry points or no platform)", path);
        ::dlclose(h);
        return nullptr;
    }
    icd->real_platforms.resize(n);
    if (icd->get_platform_ids(n, icd->real_platforms.data(), nullptr) != CL_SUCCESS) {
        ::dlclose(h);
        return nullptr;
    }
    return icd.release();
}

std::string PlatformName(Platform* p) {
    size_t n = 0;
    auto real = static_cast<cl_platform_id>(p->real);
    if (p->next->clGetPlatformInfo(real, CL_PLATFORM_NAME, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
    std::string name(n, '\0');
    if (p->next->clGetPlatformInfo(real, CL_PLATFORM_NAME, n, name.data(), nullptr) != CL_SUCCESS) return "";
    name.resize(std::strlen(name.c_str()));
    return name;
}

Platform* WrapPlatform(Icd* icd, cl_platform_id real) {
    auto* p = new Platform();
    p->dispatch = ShimDispatch();
    p->type = ObjectType::kPlatform;
    p->permanent = true;
    p->id = NextObjectId();
    p->real = real;
    p->next = *reinterpret_cast<cl_icd_dispatch* const*>(real);
    p->platform = p;
    p->icd = icd;
    p->created_by = "clIcdGetPlatformIDsKHR";
    p->refs.store(1);
    p->name = PlatformName(p);
    ObjectTable::Get().Add(p);
    GPUCR_LOG_INFO("cl", "platform '{}' of {} wrapped by gpucr", p->name, icd->path);
    return p;
}

struct Loaded {
    std::vector<Icd*> icds;
    std::vector<Platform*> platforms;
};

const Loaded& Load() {
    static Loaded* loaded = [] {
        auto* l = new Loaded();  // never freed: the application may call in at exit
        for (const std::string& lib : VendorLibraries()) {
            if (Icd* icd = LoadIcd(lib)) l->icds.push_back(icd);
        }
        if (l->icds.empty()) GPUCR_LOG_WARN("cl", "no OpenCL ICD found behind the gpucr shim");
        if (!Disabled()) {
            for (Icd* icd : l->icds) {
                for (cl_platform_id real : icd->real_platforms) l->platforms.push_back(WrapPlatform(icd, real));
            }
            RegisterAgentProvider();
        } else {
            GPUCR_LOG_INFO("cl", "GPUCR_DISABLE=1: OpenCL calls go straight to the ICDs");
        }
        return l;
    }();
    return *loaded;
}

}  // namespace

bool Disabled() {
    static const bool disabled = Env("GPUCR_DISABLE") == "1";
    return disabled;
}

std::vector<std::string> VendorLibraries() {
    std::string vendor_dir = Env("OPENCL_VENDOR_PATH");
    if (vendor_dir.empty()) vendor_dir = kDefaultVendorDir;
    std::string icd = Env("GPUCR_OPENCL_ICD");
    if (!icd.empty()) {
        std::vector<std::string> libs;
        size_t pos = 0;
        while (pos <= icd.size()) {
            size_t end = icd.find(':', pos);
            if (end == std::string::npos) end = icd.size();
            if (end > pos) libs.push_back(icd.substr(pos, end - pos));
            pos = end + 1;
        }
        return libs;
    }
    std::string vendors = Env("GPUCR_OPENCL_VENDORS");
    if (!vendors.empty()) return LibrariesFrom(vendors, vendor_dir);
    return LibrariesInDir(vendor_dir);
}

const std::vector<Icd*>& Icds() { return Load().icds; }
const std::vector<Platform*>& Platforms() { return Load().platforms; }

}  // namespace gpucr::cl
