// evsam: error type. Every failure the library reports is an evsam::Error whose
// what() is one line naming the problem (the CLI prints it and exits non-zero).
#pragma once
#include <stdexcept>
#include <string>

namespace evsam {

struct Error : std::runtime_error {
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Two kinds of Error that callers may tell apart (the Python package raises FileNotFoundError and
// RuntimeError for them, ValueError for every other Error); the message is the same one line.
// A path that does not exist (ENOENT, ENOTDIR).
struct FileNotFound : Error {
    using Error::Error;
};
// A file that exists but cannot be read as what it should be (a truncated or corrupt checkpoint).
struct CorruptFile : Error {
    using Error::Error;
};

// Throws evsam::Error(msg) when cond is false. msg is built only on failure.
#define EVSAM_CHECK(cond, msg)                                  \
    do {                                                        \
        if (!(cond)) throw ::evsam::Error(std::string() + msg); \
    } while (0)

}  // namespace evsam
