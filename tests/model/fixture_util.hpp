// Shared by the model tests: reading JSON fixtures.
#pragma once
#include <evsam/core/error.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace evsam_test {

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw evsam::Error("missing fixture " + path);
    return nlohmann::json::parse(f);
}

}  // namespace evsam_test
