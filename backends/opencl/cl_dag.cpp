#include "backends/opencl/cl_dag.h"

#include <utility>

namespace gpucr::cl {
namespace {

constexpr size_t kWindow = 4096;  // as dag::Dag's default window

}  // namespace

OpenClDag& OpenClDag::Get() {
    static OpenClDag* dag = new OpenClDag();  // never destroyed: enqueues may come during exit
    return *dag;
}

dag::OpId OpenClDag::Add(uint64_t queue, uint64_t seq, OpBuilder builder, uint64_t event, std::vector<uint64_t> waits) {
    std::lock_guard lock(mu_);
    dag::Op op = builder.TakeOp();
    op.queue = queue;
    op.seq = seq;
    dag::OpId id = dag_.Add(std::move(op));
    host_backed_.insert(builder.host_backed().begin(), builder.host_backed().end());
    enqueues_.push_back({id, queue, seq, event, std::move(waits)});
    if (enqueues_.size() > 2 * kWindow) enqueues_.erase(enqueues_.begin(), enqueues_.end() - kWindow);
    return id;
}

void OpenClDag::Mapped(const void* ptr, Mapping mapping) {
    std::lock_guard lock(mu_);
    mappings_.emplace(ptr, mapping);
}

std::optional<Mapping> OpenClDag::Unmapped(uint64_t mem, const void* ptr) {
    std::lock_guard lock(mu_);
    auto [first, last] = mappings_.equal_range(ptr);
    for (auto it = first; it != last; ++it) {
        if (it->second.mem != mem) continue;
        Mapping m = it->second;
        mappings_.erase(it);
        return m;
    }
    return std::nullopt;
}

std::vector<Mapping> OpenClDag::OpenMappings() const {
    std::lock_guard lock(mu_);
    std::vector<Mapping> out;
    for (const auto& [ptr, m] : mappings_) out.push_back(m);
    return out;
}

std::set<dag::ResourceId> OpenClDag::HostBacked() const {
    std::lock_guard lock(mu_);
    return host_backed_;
}

nlohmann::json OpenClDag::ToJson() const {
    std::lock_guard lock(mu_);
    nlohmann::json enqueues = nlohmann::json::array();
    size_t start = enqueues_.size() > kWindow ? enqueues_.size() - kWindow : 0;
    for (size_t i = start; i < enqueues_.size(); ++i) {
        const Enqueue& e = enqueues_[i];
        enqueues.push_back({{"op", e.op}, {"queue", e.queue}, {"seq", e.seq}, {"event", e.event}, {"waits", e.waits}});
    }
    return {{"dag", dag_.ToJson()}, {"host_backed", host_backed_}, {"enqueues", enqueues}};
}

}  // namespace gpucr::cl
