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
#include <future>
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

Provider TestProvider() {
    Provider p;
    p.api = "vulkan";
    p.describe = [] { return json{{"devices", {"llvmpipe"}}, {"objects", 7}, {"bytes", kBlobBytes}}; };
    p.dump = TestDump;
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
