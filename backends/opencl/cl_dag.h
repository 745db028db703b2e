// cl_dag.h — the process's kernel DAG of OpenCL enqueues: one dag::Dag fed by the shim's enqueue
// hooks, plus what the Dag itself does not model.
//
// Each enqueue becomes one op on its queue (queue = the queue wrapper's id, seq = the number the
// checkpoint gave the enqueue: 1, 2, ... per queue, cl_checkpoint.h). Beside the Dag it keeps the resources found host-backed (CL_MEM_USE_HOST_PTR: a dump
// reads them from host memory), the event each op signals and the events it waits on (the
// ordering of out-of-order queues and across queues, which dag::Dag has no edges for), and the
// mappings in flight (a map for writing becomes a host write at its unmap).
//
//   OpBuilder b(dag::OpKind::kFill, "clEnqueueFillBuffer");
//   b.Write(buffer_id, offset, size, dag::Certainty::kCertain);
//   OpenClDag::Get().Add(queue_id, seq, std::move(b), IdOf(*event), IdsOfEvents(waits, n));
//   nlohmann::json j = OpenClDag::Get().ToJson();  // {"dag": {...}, "host_backed": [...], "enqueues": [...]}
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "backends/opencl/cl_access.h"
#include "dag/dag.h"

namespace gpucr::cl {

// A map in flight, until its unmap.
struct Mapping {
    uint64_t mem = 0;  // the memory object the application mapped (not resolved)
    uint64_t offset = 0;
    uint64_t size = dag::kWholeSize;
    bool write = false;  // CL_MAP_WRITE or CL_MAP_WRITE_INVALIDATE_REGION
};

class OpenClDag {
public:
    static OpenClDag& Get();
    OpenClDag() = default;
    OpenClDag(const OpenClDag&) = delete;
    OpenClDag& operator=(const OpenClDag&) = delete;

    // Adds the op as enqueue `seq` of `queue`; `event` is the id of the event it signals (0:
    // none), `waits` the ids of the events it waits on.
    dag::OpId Add(uint64_t queue, uint64_t seq, OpBuilder op, uint64_t event, std::vector<uint64_t> waits);

    void Mapped(const void* ptr, Mapping mapping);
    // The mapping of (mem, ptr) that this unmap ends, if the shim saw it.
    std::optional<Mapping> Unmapped(uint64_t mem, const void* ptr);
    std::vector<Mapping> OpenMappings() const;

    const dag::Dag& dag() const { return dag_; }
    dag::Dag& dag() { return dag_; }
    std::set<dag::ResourceId> HostBacked() const;
    // {"dag": Dag::ToJson(), "host_backed": [ids], "enqueues": [{"op", "queue", "seq", "event", "waits"}]}
    nlohmann::json ToJson() const;

private:
    struct Enqueue {
        dag::OpId op = 0;
        uint64_t queue = 0;
        uint64_t seq = 0;
        uint64_t event = 0;
        std::vector<uint64_t> waits;
    };

    dag::Dag dag_;
    mutable std::mutex mu_;
    std::set<dag::ResourceId> host_backed_;
    std::vector<Enqueue> enqueues_;  // the last kWindow
    std::multimap<const void*, Mapping> mappings_;
};

}  // namespace gpucr::cl
