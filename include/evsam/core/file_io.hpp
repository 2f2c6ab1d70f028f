// evsam: whole-file reads and atomic whole-file writes (POSIX).
//
// read_file(path) returns the bytes of a file, or throws evsam::Error naming the
// path and the problem (missing, a directory, unreadable).
//
// write_file_atomic(path, ...) never leaves a half-written file at `path`: it
// writes "<path>.tmp.<pid>.<counter>" in the same directory (so the final
// rename(2) stays on one file system and is atomic), then renames it over
// `path`. On any failure (directory missing, disk full, a throwing callback,
// rename refused) the temp file is removed, `path` is untouched, and an
// evsam::Error is thrown (a callback's own exception is rethrown as is).
// With durable=true the data and the directory entry are also fsync'ed, so
// the new file survives a power loss; by default they are not (faster).
// If `path` is a symlink, the link itself is replaced, not its target.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "evsam/core/error.hpp"

namespace evsam {

namespace detail {

inline std::string errno_str(int e) { return std::strerror(e); }

// Directory part of a path as used for the temp file and the existence check:
// "a/b.npy" -> "a", "b.npy" -> ".", "/b.npy" -> "/".
inline std::string parent_dir(const std::string& path) {
    size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Unique per process: the pid separates processes, the counter threads and calls.
inline std::string temp_path_for(const std::string& path) {
    static std::atomic<uint64_t> counter{0};
    return path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
           std::to_string(counter.fetch_add(1));
}

// write(2) all n bytes, retrying on EINTR and short writes. Returns 0 or an errno.
inline int write_all(int fd, const uint8_t* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return 0;
}

// A std::streambuf that buffers and writes to a file descriptor; remembers the first error.
class FdStreamBuf : public std::streambuf {
public:
    explicit FdStreamBuf(int fd) : fd_(fd), buf_(1 << 16) { setp(buf_.data(), buf_.data() + buf_.size()); }
    int error() const { return err_; }
    // Flushes the buffer; returns 0 or the first errno seen.
    int flush_all() {
        sync();
        return err_;
    }

protected:
    int_type overflow(int_type ch) override {
        if (flush_buffer() != 0) return traits_type::eof();
        if (!traits_type::eq_int_type(ch, traits_type::eof())) {
            *pptr() = traits_type::to_char_type(ch);
            pbump(1);
        }
        return traits_type::not_eof(ch);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        if (n >= static_cast<std::streamsize>(buf_.size())) {  // large block: bypass the buffer
            if (flush_buffer() != 0) return 0;
            int e = write_all(fd_, reinterpret_cast<const uint8_t*>(s), static_cast<size_t>(n));
            if (e != 0) {
                err_ = err_ ? err_ : e;
                return 0;
            }
            return n;
        }
        return std::streambuf::xsputn(s, n);
    }
    int sync() override { return flush_buffer() == 0 ? 0 : -1; }

private:
    int flush_buffer() {
        size_t n = static_cast<size_t>(pptr() - pbase());
        if (n > 0 && err_ == 0) {
            int e = write_all(fd_, reinterpret_cast<const uint8_t*>(pbase()), n);
            if (e != 0) err_ = e;
        }
        setp(buf_.data(), buf_.data() + buf_.size());
        return err_;
    }
    int fd_;
    std::vector<char> buf_;
    int err_ = 0;
};

// Checks that the destination can be created before any temp file exists.
inline void check_write_target(const std::string& path) {
    EVSAM_CHECK(!path.empty(), "cannot write file: empty path");
    EVSAM_CHECK(path.back() != '/', "cannot write '" + path + "': path names a directory");
    std::string dir = parent_dir(path);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            throw Error("cannot write '" + path + "': directory '" + dir + "' does not exist");
        throw Error("cannot write '" + path + "': cannot access directory '" + dir + "' (" + errno_str(e) + ")");
    }
    EVSAM_CHECK(S_ISDIR(st.st_mode), "cannot write '" + path + "': '" + dir + "' is not a directory");
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw Error("cannot write '" + path + "': it is an existing directory");
}

// Best-effort fsync of a directory so a rename inside it is durable.
inline void fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
}

constexpr int kWriterFailed = -1;  // fill() result: the callback failed the stream itself

// Creates the temp file, lets `fill` write into its descriptor, then renames it over path.
// fill returns 0, an errno or kWriterFailed; it may also throw.
template <class Fill>
void atomic_write_impl(const std::string& path, bool durable, Fill&& fill) {
    check_write_target(path);
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {  // O_EXCL: never clobber another writer's temp
        tmp = temp_path_for(path);
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST && errno != EINTR)
            throw Error("cannot write '" + path + "': cannot create temp file '" + tmp + "' (" + errno_str(errno) +
                        ")");
    }
    EVSAM_CHECK(fd >= 0, "cannot write '" + path + "': cannot create a unique temp file");
    auto fail = [&](const std::string& what, int e) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error("cannot write '" + path + "': " + what + " (" + errno_str(e) + ")");
    };
    int e = 0;
    try {
        e = fill(fd);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (e == kWriterFailed) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw Error("cannot write '" + path + "': the writer callback left the stream in a failed state");
    }
    if (e != 0) fail("write failed", e);
    if (durable && ::fsync(fd) != 0) fail("fsync failed", errno);
    if (::close(fd) != 0) {
        e = errno;
        ::unlink(tmp.c_str());
        throw Error("cannot write '" + path + "': close failed (" + errno_str(e) + ")");
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        e = errno;
        ::unlink(tmp.c_str());
        throw Error("cannot write '" + path + "': rename from temp file failed (" + errno_str(e) + ")");
    }
    if (durable) fsync_dir(parent_dir(path));
}

}  // namespace detail

// Reads a whole file. Errors: "file not found", "is a directory", "cannot open/read (reason)".
inline std::vector<uint8_t> read_file(const std::string& path) {
    EVSAM_CHECK(!path.empty(), "cannot read file: empty path");
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) throw FileNotFound("file not found: '" + path + "'");
        if (e == EISDIR) throw Error("cannot read '" + path + "': it is a directory");
        throw Error("cannot open '" + path + "' for reading (" + detail::errno_str(e) + ")");
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error("cannot stat '" + path + "' (" + detail::errno_str(e) + ")");
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error("cannot read '" + path + "': it is a directory");
    }
    // st_size is a hint only (0 for /proc files and pipes; the file may change): read until EOF.
    // One spare byte lets the EOF read happen without growing the buffer.
    size_t hint = S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
    std::vector<uint8_t> out;
    size_t len = 0;
    try {
        out.resize(hint + 1 > 4096 ? hint + 1 : 4096);
        for (;;) {
            if (len == out.size()) out.resize(out.size() * 2);
            ssize_t r = ::read(fd, out.data() + len, out.size() - len);
            if (r < 0) {
                if (errno == EINTR) continue;
                int e = errno;
                if (e == EISDIR) throw Error("cannot read '" + path + "': it is a directory");
                throw Error("cannot read '" + path + "' (" + detail::errno_str(e) + ")");
            }
            if (r == 0) break;
            len += static_cast<size_t>(r);
        }
    } catch (const std::bad_alloc&) {
        ::close(fd);
        throw Error("cannot read '" + path + "': out of memory (file size " + std::to_string(hint) + " bytes)");
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    out.resize(len);
    return out;
}

// Writes n bytes to path atomically (see the top of this file).
inline void write_file_atomic(const std::string& path, const void* data, size_t n, bool durable = false) {
    EVSAM_CHECK(data != nullptr || n == 0, "cannot write '" + path + "': null data");
    detail::atomic_write_impl(path, durable,
                              [&](int fd) { return detail::write_all(fd, static_cast<const uint8_t*>(data), n); });
}

inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes, bool durable = false) {
    write_file_atomic(path, bytes.data(), bytes.size(), durable);
}

// Streams the content: `write` receives a binary std::ostream on the temp file.
// A failed stream write, or `write` setting badbit/failbit, aborts the whole write.
inline void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write,
                              bool durable = false) {
    EVSAM_CHECK(static_cast<bool>(write), "cannot write '" + path + "': empty writer callback");
    detail::atomic_write_impl(path, durable, [&](int fd) {
        detail::FdStreamBuf buf(fd);
        std::ostream os(&buf);
        write(os);
        os.flush();
        int e = buf.flush_all();
        if (e != 0) return e;
        if (!os) return detail::kWriterFailed;  // the callback failed the stream without an OS error
        return 0;
    });
}

}  // namespace evsam
