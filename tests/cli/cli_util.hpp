// Runs build/bin/evsam as a child process and captures exit status, stdout and stderr.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace evsam_test {

struct RunResult {
    bool exited = false;  // false: killed by a signal
    int code = -1;
    std::string out, err;
};

inline std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// args is appended verbatim to the command line (quote paths yourself); env: NAME=VALUE settings
// for the command's environment, or empty.
inline RunResult run_evsam(const std::string& env, const std::string& args) {
    static int counter = 0;
    const std::string base =
        ::testing::TempDir() + "evsam_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(EVSAM_BIN_DIR) + "/evsam " + args +
                            " >" + base + ".out 2>" + base + ".err";
    int st = std::system(cmd.c_str());
    RunResult r;
    r.exited = WIFEXITED(st);
    r.code = r.exited ? WEXITSTATUS(st) : -1;
    r.out = slurp(base + ".out");
    r.err = slurp(base + ".err");
    std::remove((base + ".out").c_str());
    std::remove((base + ".err").c_str());
    return r;
}
inline RunResult run_evsam(const std::string& args) { return run_evsam("", args); }

// The last line of a command's stdout (`--json` prints its object there).
inline std::string last_line(const std::string& out) {
    const std::string trimmed = out.substr(0, out.find_last_not_of('\n') + 1);
    return trimmed.substr(trimmed.find_last_of('\n') + 1);
}

// A failure must be: a normal exit with a non-zero code and exactly one line on stderr.
inline ::testing::AssertionResult is_clean_error(const RunResult& r) {
    if (!r.exited) return ::testing::AssertionFailure() << "killed by a signal";
    if (r.code == 0) return ::testing::AssertionFailure() << "exit code 0";
    if (r.err.empty() || r.err.back() != '\n' || r.err.find('\n') != r.err.size() - 1)
        return ::testing::AssertionFailure() << "stderr is not exactly one line: '" << r.err << "'";
    return ::testing::AssertionSuccess();
}

}  // namespace evsam_test
