// Agent tests over the real socket. The provider here is a test double of an API front-end;
// the Vulkan integration tests exercise the real one.
#include "dag/agent.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dag/agent_internal.h"
#include "dag/image.h"
#include "dag/protocol.h"

namespace gpucr::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kBlobBytes = 3u << 20;

// Controls for the test provider, shared by all tests (the agent is per process).
std::atomic<bool> g_fail_dump{false};
std::atomic<bool> g_block_dump{false};
std::atomic<bool> g_dump_entered{false};
std::atomic<bool> g_release_dump{false};

Result<json> TestDump(image::ImageWriter& writer, const json& request, const ProgressFn& progress) {
    std::vector<uint8_t> data(kBlobBytes);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
    progress("precopy", 0, kBlobBytes);
    GPUCR_ASSIGN_OR_RETURN(std::vector<image::ChunkRef> chunks, writer.PutBlob(data.data(), data.size()));
    progress("precopy", kBlobBytes, kBlobBytes);
    g_dump_entered = true;
    while (g_block_dump && !g_release_dump) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (g_fail_dump) return Unsupported("test provider refuses: swapchain in use");
    json refs = json::array();
    for (const image::ChunkRef& c : chunks) refs.push_back(image::ToJson(c));
    json resource = {{"id", 1}, {"size", kBlobBytes}, {"chunks", refs}};
    return json{{"api", "vulkan"},
                {"mode", request.value("mode", "")},
                {"resources", json::array({resource})},
                {"stats", {{"held_max_ms", 1.5}, {"held_total_ms", 2.5}}}};
}

// The test provider's suspend state, and what its resume was asked.
std::atomic<bool> g_suspended{false};
std::atomic<bool> g_fail_suspend{false};
std::atomic<int> g_fail_resume_device{-1};  // a resume onto this device fails
std::atomic<int> g_resume_calls{0};
std::mutex g_fake_mu;
std::string g_suspend_dir;  // target_dir() of the last suspend's writer
json g_last_resume_request;

Result<json> TestSuspend(image::ImageWriter& writer, const json& request, const ProgressFn& progress) {
    if (g_fail_suspend) return Unavailable("test provider cannot suspend: device busy");
    GPUCR_ASSIGN_OR_RETURN(json section, TestDump(writer, request, progress));
    {
        std::lock_guard lock(g_fake_mu);
        g_suspend_dir = writer.target_dir();
    }
    g_suspended = true;  // the driver objects are gone now
    return section;
}

Result<json> TestResume(const image::ImageReader& reader, const json& section, const json& request,
                        const ProgressFn& progress) {
    ++g_resume_calls;
    {
        std::lock_guard lock(g_fake_mu);
        g_last_resume_request = request;
    }
    if (!g_suspended) return Internal("test provider: resume while not suspended");
    if (request.contains("device") && request["device"] == g_fail_resume_device.load()) {
        return Unavailable("device " + std::to_string(g_fail_resume_device.load()) + " is lost");
    }
    std::vector<uint8_t> back(kBlobBytes);
    GPUCR_RETURN_IF_ERROR(reader.ReadResource(section["resources"][0], back.data(), back.size()));
    if (back[4242] != static_cast<uint8_t>(4242 * 7 + 3)) return Internal("test provider: wrong bytes");
    progress("load", kBlobBytes, kBlobBytes);
    g_suspended = false;
    return json{{"handback_ms", 1.25}, {"first_op_ms", 2.5}, {"loaded_ms", 3.75}, {"waits", 2},
                {"wait_ms_total", 0.5}, {"wait_ms_max", 0.3}, {"bytes_loaded", kBlobBytes}};
}

Provider TestProvider() {
    Provider p;
    p.api = "vulkan";
    p.describe = [] { return json{{"devices", {"llvmpipe"}}, {"objects", 7}, {"bytes", kBlobBytes}}; };
    p.dump = TestDump;
    p.suspend = TestSuspend;
    p.resume = TestResume;
    p.suspended = [] { return g_suspended.load(); };
    return p;
}

std::string g_root;  // temporary directory of this test run

Result<UniqueFd> ConnectTo(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return ErrnoError("connect", errno);
    return fd;
}

// Sends one request to `socket` and returns the final reply; progress events go to `events`.
json Call(const std::string& socket, const json& request, std::vector<json>* events = nullptr) {
    Result<UniqueFd> fd = ConnectTo(socket);
    if (!fd.ok()) return {{"connect_error", fd.status().message()}};
    EXPECT_TRUE(protocol::WriteLine(fd->get(), request).ok());
    protocol::LineReader reader(fd->get());
    for (;;) {
        Result<json> line = reader.Next();
        if (!line.ok()) return {{"read_error", line.status().message()}};
        if (protocol::IsFinal(*line)) return *line;
        if (events != nullptr) events->push_back(*line);
    }
}

std::string OwnSocket() { return SocketPath(g_root + "/rt", ::getpid()); }

class AgentTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/gpucr-agent-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        g_root = tmpl;
        ::setenv("GPUCR_RUNTIME_DIR", (g_root + "/rt").c_str(), 1);
        ::unsetenv("GPUCR_DISABLE");
        RegisterProvider(TestProvider());
    }
    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(g_root, ec);
    }
    void SetUp() override {
        g_fail_dump = false;
        g_block_dump = false;
        g_dump_entered = false;
        g_release_dump = false;
        g_fail_suspend = false;
        g_fail_resume_device = -1;
        g_resume_calls = 0;
        // Every test ends with the process running; a failed one must not spoil the next.
        EXPECT_FALSE(g_suspended.exchange(false)) << "a previous test left the process suspended";
        internal::ForgetSuspend();
    }
};

TEST_F(AgentTest, RuntimeDirIsPrivateAndSocketExists) {
    Result<std::string> dir = RuntimeDir();
    ASSERT_TRUE(dir.ok()) << dir.status().message();
    EXPECT_EQ(*dir, g_root + "/rt");
    struct stat st {};
    ASSERT_EQ(::stat(dir->c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat(OwnSocket().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(ActiveSocketPath(), OwnSocket());
}

TEST_F(AgentTest, Hello) {
    json reply = Call(OwnSocket(), {{"cmd", "hello"}});
    ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
    const json& r = reply["result"];
    EXPECT_EQ(r["pid"], ::getpid());
    EXPECT_EQ(r["apis"], json::array({"vulkan"}));
    EXPECT_FALSE(r["gpucr_version"].get<std::string>().empty());
    EXPECT_NE(r["exe"].get<std::string>().find("agent_test"), std::string::npos);
}

TEST_F(AgentTest, Describe) {
    json reply = Call(OwnSocket(), {{"cmd", "describe"}});
    ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
    const json& r = reply["result"];
    EXPECT_EQ(r["apis"]["vulkan"]["objects"], 7);
    EXPECT_EQ(r["apis"]["vulkan"]["devices"][0], "llvmpipe");
    ASSERT_TRUE(r["cmdline"].is_array());
    EXPECT_NE(r["cmdline"][0].get<std::string>().find("agent_test"), std::string::npos);
    EXPECT_EQ(r["suspended"], false);
    EXPECT_FALSE(r.contains("image"));
}

TEST_F(AgentTest, UnknownAndMalformedRequests) {
    json reply = Call(OwnSocket(), {{"cmd", "fly"}});
    EXPECT_EQ(reply["code"], "invalid_argument");
    reply = Call(OwnSocket(), {{"nocmd", 1}});
    EXPECT_EQ(reply["code"], "invalid_argument");
}

TEST_F(AgentTest, DumpRoundTrip) {
    std::string dir = g_root + "/img-ok";
    std::vector<json> events;
    json reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", dir}, {"mode", "cow"}, {"backend", "auto"}}, &events);
    ASSERT_EQ(reply.value("ok", false), true) << reply.dump();
    const json& r = reply["result"];
    EXPECT_EQ(r["image"], dir);
    EXPECT_EQ(r["stats"]["bytes_raw"], kBlobBytes);
    EXPECT_EQ(r["stats"]["held_max_ms"], 1.5);
    EXPECT_EQ(r["stats"]["held_total_ms"], 2.5);
    EXPECT_GT(r["stats"]["wall_ms"].get<double>(), 0.0);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["event"], "progress");
    EXPECT_EQ(events.back()["done"], kBlobBytes);

    Result<std::unique_ptr<image::ImageReader>> reader = image::ImageReader::Open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    const json& m = (*reader)->manifest();
    EXPECT_EQ(m["mode"], "cow");
    EXPECT_EQ(m["source"]["pid"], ::getpid());
    EXPECT_EQ(m["apis"], json::array({"vulkan"}));
    ASSERT_EQ(m["sections"].size(), 1u);
    EXPECT_EQ(m["stats"]["held_max_ms"], 1.5);
    std::vector<uint8_t> back(kBlobBytes);
    ASSERT_TRUE((*reader)->ReadResource(m["sections"][0]["resources"][0], back.data(), back.size()).ok());
    EXPECT_EQ(back[12345], static_cast<uint8_t>(12345 * 7 + 3));
}

TEST_F(AgentTest, FailedDumpLeavesNoImage) {
    g_fail_dump = true;
    std::string dir = g_root + "/img-fail";
    json reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", dir}});
    EXPECT_EQ(reply.value("ok", true), false);
    EXPECT_EQ(reply["code"], "unsupported");
    EXPECT_NE(reply["error"].get<std::string>().find("swapchain"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir));
    for (const auto& entry : fs::directory_iterator(g_root)) {
        EXPECT_EQ(entry.path().filename().string().find("img-fail"), std::string::npos) << entry.path();
    }
}

TEST_F(AgentTest, DumpValidation) {
    json reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", "relative/img"}});
    EXPECT_EQ(reply["code"], "invalid_argument");
    reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/img-cl"}, {"backend", "opencl"}});
    EXPECT_EQ(reply["code"], "failed_precondition");
    EXPECT_EQ(reply["error"], "process does not use opencl");
    reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/img-m"}, {"mode", "fast"}});
    EXPECT_EQ(reply["code"], "invalid_argument");
    fs::create_directories(g_root + "/full/x");
    reply = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/full"}});
    EXPECT_EQ(reply["code"], "already_exists");
}

TEST_F(AgentTest, SecondDumpWhileOneRunsIsRejected) {
    g_block_dump = true;
    auto first = std::async(std::launch::async, [] {
        return Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/img-a"}});
    });
    for (int i = 0; i < 2000 && !g_dump_entered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(g_dump_entered);
    json second = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/img-b"}});
    EXPECT_EQ(second["code"], "failed_precondition");
    json hello = Call(OwnSocket(), {{"cmd", "hello"}});  // other commands are still served
    EXPECT_EQ(hello.value("ok", false), true);
    g_release_dump = true;
    json done = first.get();
    EXPECT_EQ(done.value("ok", false), true) << done.dump();
    EXPECT_FALSE(fs::exists(g_root + "/img-b"));
}

TEST_F(AgentTest, RefusesPeerOfAnotherUid) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another uid";
    std::string dir = g_root + "/rt";
    // Let uid 65534 reach the socket, so that SO_PEERCRED (not file modes) is what refuses it.
    ASSERT_EQ(::chmod(g_root.c_str(), 0711), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0711), 0);
    ASSERT_EQ(::chmod(OwnSocket().c_str(), 0777), 0);
    pid_t child = ::fork();
    if (child == 0) {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
        json reply = Call(OwnSocket().substr(0, OwnSocket().rfind('/') + 1) + std::to_string(::getppid()) + ".sock",
                          {{"cmd", "hello"}});
        ::_exit(reply.value("code", "") == "permission_denied" ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ::chmod(dir.c_str(), 0700);
    ::chmod(g_root.c_str(), 0700);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(AgentTest, ForkedChildServesItsOwnSocket) {
    pid_t child = ::fork();
    if (child == 0) {
        EnsureRunning();
        std::string mine = SocketPath(g_root + "/rt", ::getpid());
        if (ActiveSocketPath() != mine) ::_exit(3);
        json reply = Call(mine, {{"cmd", "hello"}});
        if (!reply.contains("result") || reply["result"]["pid"] != ::getpid()) ::_exit(4);
        std::exit(0);  // runs the agent's atexit handler, which removes the child's socket
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(fs::exists(SocketPath(g_root + "/rt", child)));
    json reply = Call(OwnSocket(), {{"cmd", "hello"}});  // the parent's agent is untouched
    EXPECT_EQ(reply.value("ok", false), true);
}

// ---- suspend, resume, migrate ----

json Ok(const json& reply) {
    EXPECT_EQ(reply.value("ok", false), true) << reply.dump();
    return reply.value("result", json::object());
}

json DescribeSelf() { return Ok(Call(OwnSocket(), {{"cmd", "describe"}})); }

std::string SuspendDir() {
    std::lock_guard lock(g_fake_mu);
    return g_suspend_dir;
}

json LastResumeRequest() {
    std::lock_guard lock(g_fake_mu);
    return g_last_resume_request;
}

// The chunk file holding the first chunk of the suspend image's resource, and its path
// relative to the image.
std::string FirstChunk(const std::string& dir, std::string* rel) {
    Result<std::unique_ptr<image::ImageReader>> reader = image::ImageReader::Open(dir);
    EXPECT_TRUE(reader.ok()) << reader.status().message();
    if (!reader.ok()) return "";
    std::string hash = (*reader)->manifest()["sections"][0]["resources"][0]["chunks"][0]["hash"];
    *rel = "chunks/" + hash.substr(0, 2) + "/" + hash + ".chunk";
    return dir + "/" + *rel;
}

void FlipByte(const std::string& path, uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
}

TEST_F(AgentTest, SuspendThenResume) {
    std::string dir = g_root + "/susp-ok";
    json r = Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}}));
    EXPECT_EQ(r["image"], dir);
    EXPECT_EQ(r["mode"], "dirty");  // the default
    EXPECT_EQ(r["apis"], json::array({"vulkan"}));
    EXPECT_EQ(r["stats"]["bytes_raw"], kBlobBytes);
    EXPECT_EQ(r["stats"]["held_max_ms"], 1.5);
    EXPECT_TRUE(g_suspended);
    EXPECT_EQ(SuspendDir(), dir);

    Result<std::unique_ptr<image::ImageReader>> reader = image::ImageReader::Open(dir);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    const json& m = (*reader)->manifest();
    EXPECT_EQ(m["mode"], "dirty");
    EXPECT_EQ(m["suspend"], true);
    EXPECT_EQ(m["suspend_id"].get<std::string>().size(), 16u);
    EXPECT_EQ(m["source"]["pid"], ::getpid());
    EXPECT_EQ(m["sections"][0]["mode"], "dirty");  // the provider saw the mode

    json d = DescribeSelf();
    EXPECT_EQ(d["suspended"], true);
    EXPECT_EQ(d["image"], dir);

    int64_t before = internal::MonotonicNs();
    std::vector<json> events;
    r = Ok(Call(OwnSocket(), {{"cmd", "resume"}}, &events));
    EXPECT_EQ(r["image"], dir);
    EXPECT_TRUE(r["device"].is_null());
    EXPECT_EQ(r["eager"], false);
    EXPECT_EQ(r["apis"], json::array({"vulkan"}));
    EXPECT_GE(r["stats"]["verify_ms"].get<double>(), 0.0);
    EXPECT_GE(r["stats"]["wall_ms"].get<double>(), r["stats"]["verify_ms"].get<double>());
    EXPECT_EQ(r["stats"]["vulkan"]["handback_ms"], 1.25);
    EXPECT_EQ(r["stats"]["vulkan"]["bytes_loaded"], kBlobBytes);
    EXPECT_EQ(g_resume_calls, 1);
    json req = LastResumeRequest();
    EXPECT_FALSE(req.contains("device"));
    EXPECT_EQ(req["eager"], false);
    EXPECT_GE(req["t0_ns"].get<int64_t>(), before);
    EXPECT_LE(req["t0_ns"].get<int64_t>(), internal::MonotonicNs());
    bool verify_seen = false;
    for (const json& e : events) verify_seen |= e.value("phase", "") == "verify";
    EXPECT_TRUE(verify_seen);

    EXPECT_FALSE(g_suspended);
    d = DescribeSelf();
    EXPECT_EQ(d["suspended"], false);
    EXPECT_FALSE(d.contains("image"));
    EXPECT_TRUE(fs::exists(dir + "/manifest.json"));  // the client's image stays
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "resume"}})["error"], "process is not suspended");  // state cleared
}

TEST_F(AgentTest, SuspendTwiceIsRefused) {
    std::string dir = g_root + "/susp-twice";
    Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}, {"mode", "stop"}}));
    json again = Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", g_root + "/susp-twice-2"}});
    EXPECT_EQ(again["code"], "failed_precondition");
    EXPECT_EQ(again["error"], "process is already suspended (image " + dir + ")");
    EXPECT_FALSE(fs::exists(g_root + "/susp-twice-2"));
    json migrate = Call(OwnSocket(), {{"cmd", "migrate"}, {"device", 1}});
    EXPECT_EQ(migrate["code"], "failed_precondition");
    json dump = Call(OwnSocket(), {{"cmd", "dump"}, {"dir", g_root + "/susp-twice-dump"}});
    EXPECT_EQ(dump["error"], "process is suspended (image " + dir + "): resume it first");
    EXPECT_FALSE(fs::exists(g_root + "/susp-twice-dump"));
    Ok(Call(OwnSocket(), {{"cmd", "resume"}}));
}

TEST_F(AgentTest, ResumeWhenNotSuspendedIsRefused) {
    json reply = Call(OwnSocket(), {{"cmd", "resume"}, {"device", 1}});
    EXPECT_EQ(reply["code"], "failed_precondition");
    EXPECT_EQ(reply["error"], "process is not suspended");
    EXPECT_EQ(g_resume_calls, 0);
}

TEST_F(AgentTest, SuspendValidation) {
    std::string dir = g_root + "/susp-cow";
    json reply = Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}, {"mode", "cow"}});
    EXPECT_EQ(reply["code"], "invalid_argument");
    EXPECT_EQ(reply["error"],
              "suspend needs the image to show the moment the process stops: use --mode dirty (default) or stop");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}, {"mode", "fast"}})["code"], "invalid_argument");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", "rel/img"}})["code"], "invalid_argument");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "suspend"}})["code"], "invalid_argument");
    reply = Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}, {"backend", "cuda"}});
    EXPECT_EQ(reply["error"], "process does not use cuda");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "migrate"}})["code"], "invalid_argument");  // no device
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "migrate"}, {"device", -1}})["code"], "invalid_argument");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "migrate"}, {"device", "1"}})["code"], "invalid_argument");
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "migrate"}, {"device", 1}, {"mode", "cow"}})["code"], "invalid_argument");
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_FALSE(g_suspended);
}

TEST_F(AgentTest, FailedSuspendLeavesNoImageAndKeepsRunning) {
    g_fail_suspend = true;
    std::string dir = g_root + "/susp-fail";
    json reply = Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}});
    EXPECT_EQ(reply["code"], "unavailable");
    EXPECT_EQ(reply["error"], "vulkan: test provider cannot suspend: device busy");
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_EQ(DescribeSelf()["suspended"], false);
}

TEST_F(AgentTest, DamagedChunkRefusesResumeUntilRepaired) {
    std::string dir = g_root + "/susp-damaged";
    Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}}));
    std::string rel;
    std::string chunk = FirstChunk(dir, &rel);
    ASSERT_FALSE(chunk.empty());
    FlipByte(chunk, 48 + 777);  // past the chunk header: the payload

    json reply = Call(OwnSocket(), {{"cmd", "resume"}, {"device", 0}, {"eager", true}});
    EXPECT_EQ(reply["code"], "data_loss");
    EXPECT_EQ(reply["error"], dir + "/" + rel + ": checksum mismatch");
    EXPECT_EQ(g_resume_calls, 0);  // no provider saw the damaged image
    EXPECT_TRUE(g_suspended);
    json d = DescribeSelf();
    EXPECT_EQ(d["suspended"], true);
    EXPECT_EQ(d["image"], dir);

    FlipByte(chunk, 48 + 777);  // repaired
    json r = Ok(Call(OwnSocket(), {{"cmd", "resume"}, {"device", 0}, {"eager", true}}));
    EXPECT_EQ(r["device"], 0);
    EXPECT_EQ(r["eager"], true);
    EXPECT_EQ(g_resume_calls, 1);
    EXPECT_EQ(LastResumeRequest()["device"], 0);
    EXPECT_EQ(LastResumeRequest()["eager"], true);
    EXPECT_FALSE(g_suspended);
}

// Writes a complete suspend-looking image whose manifest says it came from `pid`.
void WriteForeignImage(const std::string& dir, int pid) {
    Result<std::unique_ptr<image::ImageWriter>> writer = image::ImageWriter::Create(dir, {});
    ASSERT_TRUE(writer.ok()) << writer.status().message();
    Result<json> section = TestDump(**writer, {{"mode", "dirty"}}, [](std::string_view, uint64_t, uint64_t) {});
    ASSERT_TRUE(section.ok());
    json manifest = {{"source", {{"pid", pid}}},
                     {"mode", "dirty"},
                     {"apis", {"vulkan"}},
                     {"sections", {*section}},
                     {"suspend", true}};
    ASSERT_TRUE((*writer)->Commit(manifest).ok());
}

TEST_F(AgentTest, ResumeOfAnotherProcessImageIsRefused) {
    std::string foreign = g_root + "/susp-foreign";
    WriteForeignImage(foreign, 1);
    std::string dir = g_root + "/susp-mine";
    Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", dir}}));
    json reply = Call(OwnSocket(), {{"cmd", "resume"}, {"dir", foreign}});
    EXPECT_EQ(reply["code"], "failed_precondition");
    EXPECT_EQ(reply["error"], "image " + foreign + " was taken from process 1, not this one");
    EXPECT_EQ(g_resume_calls, 0);
    EXPECT_EQ(DescribeSelf()["image"], dir);
    EXPECT_EQ(Call(OwnSocket(), {{"cmd", "resume"}, {"dir", "relative"}})["code"], "invalid_argument");
    Ok(Call(OwnSocket(), {{"cmd", "resume"}, {"dir", dir}}));
}

TEST_F(AgentTest, ResumeFromAnEarlierSuspendOrADumpIsRefused) {
    std::string first = g_root + "/susp-first";
    Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", first}}));
    Ok(Call(OwnSocket(), {{"cmd", "resume"}}));
    std::string dumped = g_root + "/susp-dumped";
    Ok(Call(OwnSocket(), {{"cmd", "dump"}, {"dir", dumped}}));
    std::string second = g_root + "/susp-second";
    Ok(Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", second}}));
    json reply = Call(OwnSocket(), {{"cmd", "resume"}, {"dir", first}});
    EXPECT_EQ(reply["error"], "image " + first + " is from an earlier suspend of this process, not the current one");
    reply = Call(OwnSocket(), {{"cmd", "resume"}, {"dir", dumped}});
    EXPECT_EQ(reply["code"], "failed_precondition");
    EXPECT_NE(reply["error"].get<std::string>().find("was written by dump, not suspend"), std::string::npos);
    EXPECT_EQ(g_resume_calls, 1);
    Ok(Call(OwnSocket(), {{"cmd", "resume"}}));
}

TEST_F(AgentTest, MigrateUsesAndRemovesATemporaryImage) {
    json r = Ok(Call(OwnSocket(), {{"cmd", "migrate"}, {"device", 1}}));
    std::string temp = SuspendDir();
    std::string prefix = "gpucr-migrate-" + std::to_string(::getpid()) + "-";
    EXPECT_EQ(fs::path(temp).filename().string().rfind(prefix, 0), 0u) << temp;
    std::string parent = fs::path(temp).parent_path().string();
    EXPECT_TRUE(parent == "/dev/shm" || parent == g_root + "/rt") << temp;
    EXPECT_FALSE(fs::exists(temp));
    for (const auto& e : fs::directory_iterator(parent)) {  // nor its .partial- sibling
        EXPECT_NE(e.path().string().rfind(temp, 0), 0u) << e.path();
    }
    EXPECT_EQ(r["device"], 1);
    EXPECT_EQ(r["mode"], "dirty");
    EXPECT_EQ(r["eager"], false);
    EXPECT_FALSE(r.contains("image"));
    EXPECT_EQ(r["stats"]["suspend"]["bytes_raw"], kBlobBytes);
    EXPECT_EQ(r["stats"]["resume"]["vulkan"]["first_op_ms"], 2.5);
    EXPECT_GE(r["stats"]["wall_ms"].get<double>(), r["stats"]["resume"]["wall_ms"].get<double>());
    EXPECT_EQ(LastResumeRequest()["device"], 1);
    EXPECT_FALSE(g_suspended);
    EXPECT_EQ(DescribeSelf()["suspended"], false);
}

TEST_F(AgentTest, MigrateIntoADirectoryKeepsTheImage) {
    std::string dir = g_root + "/migr-dir";
    json r =
        Ok(Call(OwnSocket(), {{"cmd", "migrate"}, {"device", 2}, {"dir", dir}, {"mode", "stop"}, {"eager", true}}));
    EXPECT_EQ(r["image"], dir);
    EXPECT_EQ(r["mode"], "stop");
    EXPECT_EQ(LastResumeRequest()["eager"], true);
    EXPECT_TRUE(fs::exists(dir + "/manifest.json"));
    EXPECT_FALSE(g_suspended);
}

TEST_F(AgentTest, FailedMigrateFallsBackToTheOriginalDevice) {
    g_fail_resume_device = 3;
    json reply = Call(OwnSocket(), {{"cmd", "migrate"}, {"device", 3}});
    EXPECT_EQ(reply["code"], "unavailable");
    EXPECT_EQ(reply["error"],
              "migrate to device 3 failed: vulkan: device 3 is lost; the process continues on its original device");
    EXPECT_EQ(g_resume_calls, 2);
    EXPECT_FALSE(LastResumeRequest().contains("device"));
    EXPECT_FALSE(g_suspended);
    EXPECT_EQ(DescribeSelf()["suspended"], false);
    EXPECT_FALSE(fs::exists(SuspendDir()));
}

TEST_F(AgentTest, OneOperationAtATime) {
    g_block_dump = true;  // the test provider's suspend writes through TestDump, which blocks
    auto first = std::async(std::launch::async, [] {
        return Call(OwnSocket(), {{"cmd", "suspend"}, {"dir", g_root + "/susp-busy"}});
    });
    for (int i = 0; i < 2000 && !g_dump_entered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(g_dump_entered);
    for (const json& req : {json{{"cmd", "dump"}, {"dir", g_root + "/busy-dump"}}, json{{"cmd", "resume"}},
                            json{{"cmd", "migrate"}, {"device", 1}}}) {
        json reply = Call(OwnSocket(), req);
        EXPECT_EQ(reply["code"], "failed_precondition") << req.dump();
        EXPECT_EQ(reply["error"], "a suspend of this process is already running") << req.dump();
    }
    EXPECT_EQ(DescribeSelf()["suspended"], false);  // describe is still served
    g_release_dump = true;
    Ok(first.get());
    Ok(Call(OwnSocket(), {{"cmd", "resume"}}));
}

// Called without the socket: providers other than the registered one.
Result<json> Handle(const json& request, const std::vector<Provider>& providers) {
    return internal::HandleRequest(request, providers, [](const json&) {});
}

TEST_F(AgentTest, ProviderWithoutSuspendIsUnsupported) {
    Provider dump_only = TestProvider();
    dump_only.suspend = nullptr;
    Result<json> r = Handle({{"cmd", "suspend"}, {"dir", g_root + "/susp-unsup"}}, {dump_only});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
    EXPECT_EQ(r.status().message(), "vulkan state cannot be suspended by this build");
    EXPECT_FALSE(fs::exists(g_root + "/susp-unsup"));
}

TEST_F(AgentTest, SecondApiRefusingToSuspendBringsTheFirstBack) {
    Provider other = TestProvider();
    other.api = "opencl";
    other.suspend = [](image::ImageWriter&, const json&, const ProgressFn&) -> Result<json> {
        return Unsupported("pipes cannot be captured");
    };
    other.suspended = [] { return false; };
    std::string dir = g_root + "/susp-two";
    Result<json> r = Handle({{"cmd", "suspend"}, {"dir", dir}}, {TestProvider(), other});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
    EXPECT_EQ(r.status().message(), "opencl: pipes cannot be captured");
    EXPECT_EQ(g_resume_calls, 1);  // vulkan came back from what it wrote
    EXPECT_EQ(LastResumeRequest()["eager"], true);
    EXPECT_FALSE(g_suspended);
    EXPECT_FALSE(fs::exists(dir));
    EXPECT_FALSE(internal::RememberedSuspend().has_value());
}

std::atomic<int> g_released{0};
std::atomic<int> g_cancelled{0};

// A two-phase provider: suspend holds, release lets go after the commit, cancel before it.
Provider TwoPhaseProvider(bool break_commit) {
    Provider p = TestProvider();
    g_released = 0;
    g_cancelled = 0;
    p.suspend = [break_commit](image::ImageWriter& w, const json& req, const ProgressFn& progress) -> Result<json> {
        GPUCR_ASSIGN_OR_RETURN(json section, TestDump(w, req, progress));
        if (break_commit) {  // the image's working directory vanishes: the commit fails
            std::error_code ec;
            fs::remove_all(w.target_dir() + ".partial-" + std::to_string(::getpid()), ec);
        }
        return section;
    };
    p.release = []() -> Result<json> {
        ++g_released;
        g_suspended = true;
        return json{{"objects_destroyed", 3}};
    };
    p.cancel = [] { ++g_cancelled; };
    return p;
}

TEST_F(AgentTest, TwoPhaseSuspendReleasesOnlyAfterTheCommit) {
    std::string dir = g_root + "/susp-two-phase";
    Provider p = TwoPhaseProvider(false);
    p.release = [dir]() -> Result<json> {
        EXPECT_TRUE(fs::exists(dir + "/COMPLETE")) << "released before the image was committed";
        ++g_released;
        g_suspended = true;
        return json{{"objects_destroyed", 3}};
    };
    Result<json> r = Handle({{"cmd", "suspend"}, {"dir", dir}}, {p});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(g_released, 1);
    EXPECT_EQ(g_cancelled, 0);
    EXPECT_EQ((*r)["stats"]["release"]["vulkan"]["objects_destroyed"], 3);
    Result<json> back = Handle({{"cmd", "resume"}}, {p});
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_FALSE(g_suspended);
}

TEST_F(AgentTest, TwoPhaseSuspendWhoseImageCannotBeWrittenLetsTheApplicationGoOn) {
    std::string dir = g_root + "/susp-two-phase-broken";
    Result<json> r = Handle({{"cmd", "suspend"}, {"dir", dir}}, {TwoPhaseProvider(true)});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("the process continues as before"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(g_cancelled, 1);
    EXPECT_EQ(g_released, 0);
    EXPECT_FALSE(g_suspended);
    EXPECT_FALSE(fs::exists(dir + "/COMPLETE"));
    EXPECT_FALSE(internal::RememberedSuspend().has_value());
}

TEST(AgentDirTest, CreatesPrivateDir) {
    char tmpl[] = "/tmp/gpucr-agent-dir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = std::string(tmpl) + "/rt";
    ASSERT_TRUE(internal::EnsurePrivateDir(dir).ok());
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_TRUE(internal::EnsurePrivateDir(dir).ok());  // existing and correct
    fs::remove_all(tmpl);
}

TEST(AgentDirTest, RefusesOpenModeLinkAndForeignOwner) {
    char tmpl[] = "/tmp/gpucr-agent-dir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string root = tmpl;
    std::string open_dir = root + "/open";
    ASSERT_EQ(::mkdir(open_dir.c_str(), 0755), 0);
    ASSERT_EQ(::chmod(open_dir.c_str(), 0755), 0);
    Status st = internal::EnsurePrivateDir(open_dir);
    EXPECT_EQ(st.code(), Code::kPermissionDenied);
    EXPECT_NE(st.message().find("0755"), std::string::npos) << st.message();

    std::string link = root + "/link";
    std::string target = root + "/target";
    ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    EXPECT_EQ(internal::EnsurePrivateDir(link).code(), Code::kPermissionDenied);

    std::string file = root + "/file";
    ASSERT_TRUE(std::fopen(file.c_str(), "w") != nullptr);
    EXPECT_EQ(internal::EnsurePrivateDir(file).code(), Code::kPermissionDenied);

    if (::geteuid() == 0) {
        std::string foreign = root + "/foreign";
        ASSERT_EQ(::mkdir(foreign.c_str(), 0700), 0);
        ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
        Status fst = internal::EnsurePrivateDir(foreign);
        EXPECT_EQ(fst.code(), Code::kPermissionDenied);
        EXPECT_NE(fst.message().find("owned by uid 65534"), std::string::npos) << fst.message();
    }
    fs::remove_all(root);
}

TEST(AgentDirTest, RuntimeDirFallbacks) {
    const char* saved = std::getenv("GPUCR_RUNTIME_DIR");
    std::string saved_value = saved != nullptr ? saved : "";
    char tmpl[] = "/tmp/gpucr-agent-xdg-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    ::unsetenv("GPUCR_RUNTIME_DIR");
    ::setenv("XDG_RUNTIME_DIR", tmpl, 1);
    Result<std::string> dir = RuntimeDir();
    ASSERT_TRUE(dir.ok()) << dir.status().message();
    EXPECT_EQ(*dir, std::string(tmpl) + "/gpucr");
    if (saved != nullptr) ::setenv("GPUCR_RUNTIME_DIR", saved_value.c_str(), 1);
    fs::remove_all(tmpl);
    EXPECT_EQ(SocketPath("/run/x", 42), "/run/x/42.sock");
}

}  // namespace
}  // namespace gpucr::agent
