#include "dag/restore.h"

#include <time.h>

#include <algorithm>
#include <chrono>

#include "dag/log.h"

namespace gpucr::restore {

int64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Loader::Loader(std::vector<Item> items, LoadFn load) : load_(std::move(load)) {
    for (Item& it : items) {
        index_[it.id] = entries_.size();
        entries_.push_back({std::move(it)});
    }
    remaining_ = entries_.size();
}

Loader::~Loader() {
    if (thread_.joinable()) thread_.join();
}

Status Loader::Start(bool eager) {
    std::unique_lock lock(mu_);
    t_start_ns_ = MonotonicNs();
    if (eager) {
        while (Entry* e = NextLocked()) {
            if (!LoadOne(lock, *e)) return first_error_;
        }
        t_done_ns_ = MonotonicNs();
        return Status::Ok();
    }
    if (remaining_ == 0) {
        t_done_ns_ = t_start_ns_;
        return Status::Ok();
    }
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
}

// What to load next: what an operation waits for, else the entry begun, else image order.
Loader::Entry* Loader::NextLocked() {
    while (!wanted_.empty()) {
        Entry& e = entries_[wanted_.front()];
        if (e.state == State::kPending || e.state == State::kLoading) return &e;
        wanted_.pop_front();
    }
    for (size_t i : partial_) {
        if (entries_[i].state == State::kLoading) return &entries_[i];
    }
    while (next_ < entries_.size()) {
        Entry& e = entries_[next_++];
        if (e.state == State::kPending) return &e;
    }
    return nullptr;
}

// Loads one piece of an entry with the lock released meanwhile; false when it failed.
bool Loader::LoadOne(std::unique_lock<std::mutex>& lock, Entry& e) {
    if (e.state == State::kPending) partial_.push_back(static_cast<size_t>(&e - entries_.data()));
    e.state = State::kLoading;
    const size_t piece = e.next_piece;
    lock.unlock();
    Status s;
    try {
        if (e.item.pieces > 0) s = load_(e.item, piece);
    } catch (const std::exception& ex) {
        s = Internal(std::string("loading failed: ") + ex.what());
    }
    lock.lock();
    if (s.ok() && ++e.next_piece < e.item.pieces) return true;
    Finish(e, s);
    return s.ok();
}

void Loader::Finish(Entry& e, const Status& s) {
    const size_t index = static_cast<size_t>(&e - entries_.data());
    partial_.erase(std::remove(partial_.begin(), partial_.end(), index), partial_.end());
    order_.push_back(e.item.id);
    --remaining_;
    if (s.ok()) {
        e.state = State::kLoaded;
        bytes_ += e.item.size;
    } else {
        e.state = State::kFailed;
        e.error = s;
        if (!failed_) first_error_ = s;
        failed_ = true;
        GPUCR_LOG_ERROR("restore", "loading resource #{} failed: {}", e.item.id, s.message());
    }
    cv_.notify_all();
}

void Loader::Run() {
    std::unique_lock lock(mu_);
    while (Entry* e = NextLocked()) LoadOne(lock, *e);
    t_done_ns_ = MonotonicNs();
    cv_.notify_all();
}

Status Loader::Ensure(std::span<const dag::ResourceId> ids) {
    std::unique_lock lock(mu_);
    if (remaining_ == 0 && !failed_) return Status::Ok();
    std::vector<size_t> waiting;
    for (dag::ResourceId id : ids) {
        auto it = index_.find(id);
        if (it == index_.end()) continue;
        Entry& e = entries_[it->second];
        if (e.state == State::kFailed) return e.error;
        if (e.state == State::kLoaded) continue;
        wanted_.push_back(it->second);
        waiting.push_back(it->second);
    }
    if (waiting.empty()) return Status::Ok();
    const int64_t t0 = MonotonicNs();
    cv_.notify_all();
    Status result;
    for (size_t i : waiting) {
        cv_.wait(lock, [&] { return entries_[i].state == State::kLoaded || entries_[i].state == State::kFailed; });
        if (entries_[i].state == State::kFailed && result.ok()) result = entries_[i].error;
        waited_for_.push_back(entries_[i].item.id);
    }
    const double ms = (MonotonicNs() - t0) / 1e6;
    ++waits_;
    wait_ms_total_ += ms;
    wait_ms_max_ = std::max(wait_ms_max_, ms);
    return result;
}

Status Loader::EnsureAll() {
    std::vector<dag::ResourceId> ids;
    {
        std::lock_guard lock(mu_);
        for (const Entry& e : entries_) ids.push_back(e.item.id);
    }
    return Ensure(ids);
}

Status Loader::WaitAll() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return remaining_ == 0; });
    return failed_ ? first_error_ : Status::Ok();
}

bool Loader::done() const {
    std::lock_guard lock(mu_);
    return remaining_ == 0;
}

nlohmann::json Loader::Stats() const {
    std::lock_guard lock(mu_);
    nlohmann::json j = {{"resources", entries_.size()},
                        {"bytes", bytes_},
                        {"waits", waits_},
                        {"wait_ms_total", wait_ms_total_},
                        {"wait_ms_max", wait_ms_max_},
                        {"waited_for", waited_for_},
                        {"order", order_}};
    if (remaining_ == 0 && t_done_ns_ >= t_start_ns_) j["loaded_ms"] = (t_done_ns_ - t_start_ns_) / 1e6;
    if (failed_) j["error"] = first_error_.message();
    return j;
}

Result<std::vector<Item>> ItemsFromSection(const nlohmann::json& section, std::span<const uint64_t> ids,
                                           const std::function<std::string(uint64_t)>& name,
                                           const std::string& where) {
    std::map<uint64_t, const nlohmann::json*> by_id;
    if (auto it = section.find("resources"); it != section.end() && it->is_array()) {
        for (const nlohmann::json& r : *it) {
            if (r.contains("id") && r["id"].is_number_unsigned()) by_id[r["id"].get<uint64_t>()] = &r;
        }
    }
    std::vector<Item> items;
    for (uint64_t id : ids) {
        auto it = by_id.find(id);
        if (it == by_id.end()) return DataLoss(where + ": the image holds no contents for " + name(id));
        Item item{id, it->second->value("size", uint64_t{0}), *it->second};
        uint64_t offset = 0;
        nlohmann::json offsets = nlohmann::json::array();
        const nlohmann::json& chunks = item.entry.value("chunks", nlohmann::json::array());
        for (const nlohmann::json& c : chunks) {
            offsets.push_back(offset);
            offset += c.value("size", uint64_t{0});
        }
        if (offset != item.size) return DataLoss(where + ": the chunks of " + name(id) + " do not add up to its size");
        item.entry["offsets"] = std::move(offsets);
        item.pieces = chunks.size();
        items.push_back(std::move(item));
    }
    return items;
}

nlohmann::json ResumeLoadStats(const nlohmann::json& loader_stats) {
    return {{"bytes_loaded", loader_stats["bytes"]},           {"resources_loaded", loader_stats["resources"]},
            {"waits", loader_stats["waits"]},                  {"wait_ms_total", loader_stats["wait_ms_total"]},
            {"wait_ms_max", loader_stats["wait_ms_max"]},      {"waited_for", loader_stats["waited_for"]},
            {"load_order", loader_stats["order"]}};
}

FirstOpWatch::~FirstOpWatch() {
    if (thread_.joinable()) thread_.join();
}

void FirstOpWatch::Start(int64_t t0_ns, std::function<Status(dag::QueueId, uint64_t)> wait_completed) {
    static constexpr auto kTimeout = std::chrono::seconds(30);  // no operation by then: none recorded
    result_ = nullptr;
    state_.store(kWatching);
    thread_ = std::thread([this, t0_ns, wait = std::move(wait_completed)] {
        const auto deadline = std::chrono::steady_clock::now() + kTimeout;
        while (state_.load() != kRecorded && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        if (state_.load() == kRecorded && wait(queue_, seq_).ok()) result_ = (MonotonicNs() - t0_ns) / 1e6;
    });
}

nlohmann::json FirstOpWatch::Join() {
    if (thread_.joinable()) thread_.join();
    state_.store(kIdle);
    return result_;
}

}  // namespace gpucr::restore
