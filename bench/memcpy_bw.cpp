// memcpy_bw — the host's memory copy bandwidth, the yardstick for dump throughput.
//
// Prints JSON: {"bytes", "prefaulted_gib_s", "first_touch_gib_s"}: copies into memory whose
// pages are already present (what gpucr's pre-populated snapshot buffers see) and into fresh
// pages (first touch).
//
//   memcpy_bw [MiB]
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

double CopyGiBs(void* dst, const void* src, size_t bytes) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst, src, bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(bytes) / s / (1u << 30);
}

void* Map(size_t bytes, bool populate) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0),
                   -1, 0);
    if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
    const size_t bytes = mib << 20;
    void* src = Map(bytes, true);
    std::memset(src, 0x5a, bytes);
    void* warm = Map(bytes, true);
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        const double g = CopyGiBs(warm, src, bytes);
        if (g > best) best = g;
    }
    void* cold = Map(bytes, false);
    const double first = CopyGiBs(cold, src, bytes);
    std::printf("{\"bytes\": %zu, \"prefaulted_gib_s\": %.3f, \"first_touch_gib_s\": %.3f}\n", bytes, best, first);
    return 0;
}
