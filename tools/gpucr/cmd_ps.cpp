// `gpucr ps [--json]`: processes with an agent, their APIs, devices, resources, and whether suspended.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tools/gpucr/cli_util.h"
#include "tools/gpucr/client.h"
#include "tools/gpucr/cmd_process.h"

namespace gpucr::cli {
namespace {

using nlohmann::json;

constexpr int kDescribeTimeoutSec = 5;

struct Row {
    std::string pid, exe, apis, devices, objects, bytes, state;
};

std::string Basename(const std::string& path) {
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DeviceName(const json& device) {
    if (device.is_string()) return device.get<std::string>();
    if (device.is_object() && device.contains("name") && device["name"].is_string()) return device["name"];
    return "?";
}

uint64_t SumField(const json& apis, const char* key) {
    uint64_t sum = 0;
    for (const json& api : apis) {
        if (api.is_object() && api.contains(key) && api[key].is_number_unsigned()) sum += api[key].get<uint64_t>();
    }
    return sum;
}

Row MakeRow(int pid, const Result<json>& described) {
    Row row{std::to_string(pid), "?", "?", "?", "?", "?", "?"};
    if (!described.ok()) {
        row.exe = "(" + described.status().message() + ")";
        return row;
    }
    const json& d = described.value();
    const json apis = d.value("apis", json::object());
    row.exe = Basename(d.value("exe", std::string("?")));
    std::vector<std::string> names, devices;
    for (auto it = apis.begin(); it != apis.end(); ++it) {
        names.push_back(it.key());
        if (it->is_object() && it->contains("devices") && (*it)["devices"].is_array()) {
            for (const json& dev : (*it)["devices"]) devices.push_back(DeviceName(dev));
        }
    }
    row.apis = names.empty() ? "-" : fmt::format("{}", fmt::join(names, ","));
    row.devices = devices.empty() ? "-" : fmt::format("{}", fmt::join(devices, ","));
    row.objects = std::to_string(SumField(apis, "objects"));
    row.bytes = FormatBytes(SumField(apis, "bytes"));
    row.state = d.value("suspended", false) ? "suspended" : "running";
    return row;
}

Result<json> Describe(int pid) {
    GPUCR_ASSIGN_OR_RETURN(UniqueFd fd, client::Connect(pid));
    return client::Request(fd.get(), {{"cmd", "describe"}}, {}, kDescribeTimeoutSec);
}

void PrintTable(const std::vector<Row>& rows) {
    constexpr const char* kFormat = "{:>8}  {:<20}  {:<14}  {:<24}  {:>8}  {:>10}  {}\n";
    std::string out = fmt::format(kFormat, "PID", "EXE", "APIS", "DEVICES", "OBJECTS", "BYTES", "STATE");
    for (const Row& r : rows) {
        out += fmt::format(kFormat, r.pid, r.exe, r.apis, r.devices, r.objects, r.bytes, r.state);
    }
    std::fputs(out.c_str(), stdout);
}

int RunPs(bool as_json) {
    Result<std::vector<int>> pids = client::ListAgents(/*remove_dead=*/true);
    if (!pids.ok()) return Fail(pids.status());
    json list = json::array();
    std::vector<Row> rows;
    for (int pid : *pids) {
        Result<json> described = Describe(pid);
        if (as_json) {
            list.push_back(described.ok() ? *described : json{{"pid", pid}, {"error", described.status().message()}});
        } else {
            rows.push_back(MakeRow(pid, described));
        }
    }
    if (as_json) {
        std::printf("%s\n", list.dump(2).c_str());
    } else {
        PrintTable(rows);
    }
    return kExitOk;
}

}  // namespace

void AddPsCommand(CLI::App& app, int* exit_code) {
    auto as_json = std::make_shared<bool>(false);
    CLI::App* ps = app.add_subcommand("ps", "List processes that run with gpucr");
    ps->add_flag("--json", *as_json, "Print the agents' descriptions as JSON");
    ps->callback([as_json, exit_code] { *exit_code = RunPs(*as_json); });
}

}  // namespace gpucr::cli
