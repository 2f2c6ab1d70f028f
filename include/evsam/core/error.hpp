// evsam: error type. Every failure the library reports is an evsam::Error whose
// what() is one line naming the problem (the CLI prints it and exits non-zero).
#pragma once
#include <stdexcept>
#include <string>

namespace evsam {

struct Error : std::runtime_error {
    explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Throws evsam::Error(msg) when cond is false. msg is built only on failure.
#define EVSAM_CHECK(cond, msg)                                  \
    do {                                                        \
        if (!(cond)) throw ::evsam::Error(std::string() + msg); \
    } while (0)

}  // namespace evsam
