// SPDX-License-Identifier: GPL-2.0-or-later
//
// gpucr's CRIU plugin: CRIU checkpoints the process, gpucr its GPU state.
//
// Licence: this file includes criu-plugin.h (GPL-2.0-or-later, from Debian's libcriu-dev) and
// is loaded into CRIU itself, so the plugin is distributed under the GNU General Public
// License, version 2 or (at your option) any later version. The rest of gpucr does not link
// with it: the plugin talks to gpucr's agent in the checkpointed process over its socket.
//
// What it does, per process that has a gpucr agent (found by its listening socket
// <runtime dir>/<pid>.sock among the process's open sockets):
//   PAUSE_DEVICES        before CRIU freezes the process: asks the agent to suspend into
//                        <images dir>/gpu-<pid> (docs/protocol.md "suspend"). The agent copies
//                        the GPU state while the application runs (mode dirty), then holds the
//                        application's GPU calls, copies what changed, commits the image and
//                        releases every driver object. The request is answered before CRIU
//                        goes on; the connection is closed by both sides, so CRIU finds no
//                        socket connected to the outside.
//   end of a dump        for every process it suspended: sends a resume request (eager) and
//                        does not wait. A process that CRIU kills never reads it; one that
//                        goes on (--leave-running, or a dump that failed) reads it as soon as
//                        CRIU lets it run, and gets its GPU back.
//   RESUME_DEVICES_LATE  after CRIU has restored the process, before it runs: sends a resume
//                        request from <images dir>/gpu-<pid> (on demand unless
//                        GPUCR_CRIU_EAGER=1) without waiting; the agent serves it once the
//                        process runs. The application's GPU calls wait until their objects
//                        exist again.
//   pre-dump             nothing: the GPU state stays live and is captured by the final dump.
//
// Environment (set by `gpucr dump` / `gpucr restore`; plain `criu` runs get the defaults):
//   GPUCR_CRIU_MODE      dirty (default) or stop: how the suspend captures the GPU
//   GPUCR_CRIU_BACKEND   auto (default), vulkan, opencl, cuda
//   GPUCR_CRIU_EAGER     1: load everything before the application continues after a restore
//   GPUCR_CRIU_DEVICE    device index to restore onto (default: the original device)
//   GPUCR_CRIU_NONCE     token put into resume requests, so gpucr can find their outcome
//   GPUCR_CRIU_VERIFIED  1: the GPU image was verified just before the restore (no second pass)
//   GPUCR_CRIU_SYNC      0: do not sync the image directory at the end of a dump (the caller does)
//   GPUCR_CRIU_REPORT    file to which every line from the agent is appended (progress, replies)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "criu-plugin.h"

enum { kLogError = 1, kLogWarn = 2, kLogInfo = 3 };

// CRIU's logger, exported by the criu binary; the plugin falls back to stderr without it.
extern void print_on_level(unsigned int loglevel, const char* format, ...) __attribute__((weak));

static void plugin_log(unsigned int level, const char* format, ...) __attribute__((format(printf, 2, 3)));
static void plugin_log(unsigned int level, const char* format, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    if (print_on_level) {
        // "Error (gpucr): ..." as CRIU's own errors read, so that tools quoting the first error find it.
        print_on_level(level, "%s (gpucr): %s\n", level == kLogError ? "Error" : level == kLogWarn ? "Warn" : "Info",
                       text);
    } else if (level <= kLogWarn) {
        fprintf(stderr, "gpucr: %s\n", text);
    }
}

#define MAX_PIDS 256
#define MAX_LINE (1 << 20)

static int g_stage = -1;
static int g_suspended[MAX_PIDS];
static int g_nr_suspended;

// ---- finding the agent ----------------------------------------------------------------------

static int has_inode(const unsigned long* inodes, int n, unsigned long ino) {
    for (int i = 0; i < n; ++i) {
        if (inodes[i] == ino) return 1;
    }
    return 0;
}

// The socket inodes the process holds open; returns their number (at most max).
static int socket_inodes(int pid, unsigned long* inodes, int max) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR* dir = opendir(path);
    if (dir == NULL) return 0;
    int n = 0;
    struct dirent* e;
    while ((e = readdir(dir)) != NULL && n < max) {
        if (e->d_name[0] == '.') continue;
        char link[PATH_MAX], target[128];
        snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        unsigned long ino;
        if (sscanf(target, "socket:[%lu]", &ino) == 1) inodes[n++] = ino;
    }
    closedir(dir);
    return n;
}

// The path of the agent's listening socket: one of the process's sockets, bound to a path
// ending in "/<pid>.sock" (/proc/<pid>/net/unix names them). 0, or -ENOENT.
static int find_agent_socket(int pid, char* out, size_t out_size) {
    unsigned long inodes[1024];
    int n = socket_inodes(pid, inodes, (int)(sizeof(inodes) / sizeof(inodes[0])));
    if (n == 0) return -ENOENT;
    char path[64], suffix[32];
    snprintf(path, sizeof(path), "/proc/%d/net/unix", pid);
    snprintf(suffix, sizeof(suffix), "/%d.sock", pid);
    FILE* f = fopen(path, "re");
    if (f == NULL) return -ENOENT;
    char line[PATH_MAX + 128];
    int found = -ENOENT;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long ino;
        char name[PATH_MAX];
        // Num RefCount Protocol Flags Type St Inode Path
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %4095s", &ino, name) != 2) continue;
        size_t len = strlen(name), slen = strlen(suffix);
        if (len <= slen || strcmp(name + len - slen, suffix) != 0 || !has_inode(inodes, n, ino)) continue;
        if (len + 1 > out_size) continue;
        memcpy(out, name, len + 1);
        found = 0;
        break;
    }
    fclose(f);
    return found;
}

static int connect_agent(const char* path, int nonblock) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

// ---- requests -----------------------------------------------------------------------------

// Appends s to out as the body of a JSON string. 0, or -1 when out is too small.
static int json_escape(const char* s, char* out, size_t out_size) {
    size_t o = 0;
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        size_t n;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20) {
            n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (o + n + 1 > out_size) return -1;
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

static const char* env_or(const char* name, const char* fallback) {
    const char* v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

static void report_line(const char* line, size_t len) {
    const char* path = getenv("GPUCR_CRIU_REPORT");
    if (path == NULL || path[0] == '\0') return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ssize_t ignored = write(fd, line, len);
    ignored = write(fd, "\n", 1);
    (void)ignored;
    close(fd);
}

static int write_all(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

// The "error" string of an error reply, unescaped enough for a log line.
static void reply_error(const char* line, char* out, size_t out_size) {
    const char* p = strstr(line, "\"error\":\"");
    size_t o = 0;
    if (p != NULL) {
        for (p += 9; *p != '\0' && *p != '"' && o + 1 < out_size; ++p) {
            if (*p == '\\' && p[1] != '\0') ++p;
            out[o++] = *p;
        }
    }
    if (o == 0 && out_size > 0) o = (size_t)snprintf(out, out_size, "%s", "unknown error");
    out[o < out_size ? o : out_size - 1] = '\0';
}

// Sends one request and reads lines until the reply. Returns 0 for an ok reply, -1 for an
// error reply (message in err), or -errno. Waits for the agent to close the connection.
static int agent_request(const char* socket_path, const char* request, char* err, size_t err_size) {
    int fd = connect_agent(socket_path, 0);
    if (fd < 0) {
        snprintf(err, err_size, "cannot connect to %s: %s", socket_path, strerror(-fd));
        return fd;
    }
    int ret = write_all(fd, request, strlen(request));
    if (ret < 0) {
        snprintf(err, err_size, "cannot send to %s: %s", socket_path, strerror(-ret));
        close(fd);
        return ret;
    }
    char* buf = malloc(MAX_LINE);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    size_t used = 0;
    int result = -EPROTO;
    snprintf(err, err_size, "the agent closed the connection without a reply");
    for (;;) {
        ssize_t n = recv(fd, buf + used, MAX_LINE - 1 - used, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        char* nl;
        while ((nl = memchr(buf, '\n', used)) != NULL) {
            *nl = '\0';
            size_t len = (size_t)(nl - buf);
            report_line(buf, len);
            if (strstr(buf, "\"event\":") == NULL) {  // the reply (events carry "event")
                if (strncmp(buf, "{\"ok\":true", 10) == 0) {
                    result = 0;
                } else {
                    reply_error(buf, err, err_size);
                    result = -1;
                }
            }
            memmove(buf, nl + 1, used - len - 1);
            used -= len + 1;
        }
        if (result != -EPROTO) break;
        if (used == MAX_LINE - 1) break;
    }
    // The agent closes its end once it has replied: wait for that (at most 10 s), so that the
    // process holds no connection to the outside when CRIU looks at its files.
    shutdown(fd, SHUT_WR);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char sink[256];
    while (poll(&p, 1, 10000) > 0 && recv(fd, sink, sizeof(sink), 0) > 0) {
    }
    close(fd);
    free(buf);
    return result;
}

// Sends one request without waiting for anything: the agent reads it when its process runs.
static int agent_post(const char* socket_path, const char* request) {
    int fd = connect_agent(socket_path, 1);
    if (fd < 0) return fd;
    int ret = write_all(fd, request, strlen(request));
    report_line(request, strlen(request) - 1);
    close(fd);
    return ret;
}

// <images dir>/gpu-<pid>, from CRIU's images directory descriptor.
static int gpu_image_dir(int pid, char* out, size_t out_size) {
    char link[64], dir[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", criu_get_image_dir());
    ssize_t len = readlink(link, dir, sizeof(dir) - 1);
    if (len <= 0) return -errno;
    dir[len] = '\0';
    if ((size_t)snprintf(out, out_size, "%s/gpu-%d", dir, pid) >= out_size) return -ENAMETOOLONG;
    return 0;
}

// verified: skip the agent's pass over every chunk (each is still checked as it loads).
static int resume_request(int pid, int eager, int use_device, int verified, char* out, size_t out_size) {
    char dir[PATH_MAX], esc_dir[2 * PATH_MAX], nonce[128];
    int ret = gpu_image_dir(pid, dir, sizeof(dir));
    if (ret < 0) return ret;
    if (json_escape(dir, esc_dir, sizeof(esc_dir)) != 0 ||
        json_escape(env_or("GPUCR_CRIU_NONCE", ""), nonce, sizeof(nonce)) != 0) {
        return -ENAMETOOLONG;
    }
    char device[32] = "null";
    const char* d = getenv("GPUCR_CRIU_DEVICE");
    if (use_device && d != NULL && d[0] != '\0') snprintf(device, sizeof(device), "%d", atoi(d));
    int n = snprintf(out, out_size,
                     "{\"cmd\":\"resume\",\"dir\":\"%s\",\"eager\":%s,\"device\":%s,\"verified\":%s,\"nonce\":\"%s\"}\n",
                     esc_dir, eager ? "true" : "false", device, verified ? "true" : "false", nonce);
    return n > 0 && (size_t)n < out_size ? 0 : -ENAMETOOLONG;
}

// ---- hooks --------------------------------------------------------------------------------

static int gpucr_pause_devices(int pid) {
    if (g_stage != CR_PLUGIN_STAGE__DUMP) return 0;  // pre-dump: the GPU state stays live
    char sock[PATH_MAX];
    if (find_agent_socket(pid, sock, sizeof(sock)) != 0) return -ENOTSUP;  // no gpucr agent
    char dir[PATH_MAX], esc_dir[2 * PATH_MAX], mode[32], backend[32];
    int ret = gpu_image_dir(pid, dir, sizeof(dir));
    if (ret < 0 || json_escape(dir, esc_dir, sizeof(esc_dir)) != 0 ||
        json_escape(env_or("GPUCR_CRIU_MODE", "dirty"), mode, sizeof(mode)) != 0 ||
        json_escape(env_or("GPUCR_CRIU_BACKEND", "auto"), backend, sizeof(backend)) != 0) {
        plugin_log(kLogError, "process %d: cannot name its GPU image directory", pid);
        return -1;
    }
    char request[3 * PATH_MAX];
    // Not fsynced while the application is held: the end of the dump syncs the file system once,
    // for CRIU's images and this one (gpucr_fini).
    snprintf(request, sizeof(request),
             "{\"cmd\":\"suspend\",\"dir\":\"%s\",\"mode\":\"%s\",\"backend\":\"%s\",\"fsync\":false}\n", esc_dir,
             mode, backend);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[1024];
    ret = agent_request(sock, request, err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (ret != 0) {
        plugin_log(kLogError, "process %d: suspending its GPU state failed: %s", pid, err);
        return -1;
    }
    if (g_nr_suspended < MAX_PIDS) g_suspended[g_nr_suspended++] = pid;
    plugin_log(kLogInfo, "process %d: GPU state suspended into %s in %.1f ms", pid, dir,
               (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__PAUSE_DEVICES, gpucr_pause_devices)

static int gpucr_resume_devices_late(int pid) {
    char dir[PATH_MAX], manifest[PATH_MAX + 32];
    if (gpu_image_dir(pid, dir, sizeof(dir)) != 0) return -ENOTSUP;
    snprintf(manifest, sizeof(manifest), "%s/manifest.json", dir);
    if (access(manifest, F_OK) != 0) return -ENOTSUP;  // nothing of this process's GPU was dumped
    char sock[PATH_MAX];
    if (find_agent_socket(pid, sock, sizeof(sock)) != 0) {
        plugin_log(kLogError, "process %d: restored without its gpucr agent socket; its GPU state (%s) cannot load",
                   pid, dir);
        return -1;
    }
    char request[3 * PATH_MAX];
    int eager = strcmp(env_or("GPUCR_CRIU_EAGER", "0"), "1") == 0;
    // GPUCR_CRIU_VERIFIED=1: gpucr restore has verified every chunk just before CRIU started.
    int verified = strcmp(env_or("GPUCR_CRIU_VERIFIED", "0"), "1") == 0;
    int ret = resume_request(pid, eager, /*use_device=*/1, verified, request, sizeof(request));
    if (ret == 0) ret = agent_post(sock, request);
    if (ret != 0) {
        plugin_log(kLogError, "process %d: cannot ask its agent to resume: %s", pid, strerror(-ret));
        return -1;
    }
    plugin_log(kLogInfo, "process %d: asked to resume its GPU state from %s", pid, dir);
    return 0;
}
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, gpucr_resume_devices_late)

static int gpucr_init(int stage) {
    g_stage = stage;
    g_nr_suspended = 0;
    return 0;
}

static void gpucr_fini(int stage, int ret) {
    if (stage != CR_PLUGIN_STAGE__DUMP) return;
    // CRIU kills the processes after this (their queued request dies with them) unless it
    // leaves them running or the dump failed: then they resume as soon as they run, from the
    // image their agent has just written and committed (no second verification pass).
    for (int i = 0; i < g_nr_suspended; ++i) {
        int pid = g_suspended[i];
        char sock[PATH_MAX], request[3 * PATH_MAX];
        int r = find_agent_socket(pid, sock, sizeof(sock));
        if (r == 0) r = resume_request(pid, /*eager=*/1, /*use_device=*/0, /*verified=*/1, request, sizeof(request));
        if (r == 0) r = agent_post(sock, request);
        if (r != 0) {
            plugin_log(kLogError, "process %d: cannot queue its GPU resume (dump %s): %s; run gpucr resume %d", pid,
                       ret == 0 ? "done" : "failed", strerror(-r), pid);
        }
    }
    // The GPU images were written without fsync while the applications were held: make them
    // (and CRIU's images beside them) durable now. CRIU unfreezes or kills the processes only
    // after this returns, so gpucr dump, which syncs before it writes its completion marker,
    // turns this off (GPUCR_CRIU_SYNC=0) to keep the sync out of the frozen time.
    if (g_nr_suspended > 0 && ret == 0 && strcmp(env_or("GPUCR_CRIU_SYNC", "1"), "0") != 0) {
        if (syncfs(criu_get_image_dir()) != 0) {
            plugin_log(kLogError, "syncing the image directory failed: %s", strerror(errno));
        }
    }
    g_nr_suspended = 0;
}

CR_PLUGIN_REGISTER("gpucr", gpucr_init, gpucr_fini)
