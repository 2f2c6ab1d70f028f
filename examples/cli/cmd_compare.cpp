// evsam compare: module-by-module comparison of two trace folders (<name>.npy files) with the
// tolerance table: the reference is evsam's CPU trace or upstream's activations, the candidate any
// backend's. Prints one line per module and names the first one out of tolerance (exit 1).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evsam/backend/tolerance.hpp"
#include "evsam/core/file_io.hpp"
#include "evsam/core/npy.hpp"

namespace evsam::tool {

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cmd_compare {

int run(const Args& a) {
    const Tolerance tol = tolerance_by_name(a.str("tolerance", "encoder-float"));
    const std::string ref_dir = a.str("reference"), cand_dir = a.str("candidate");
    auto read_json = [](const std::string& p) {
        auto bytes = read_file(p);
        auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
        if (j.is_discarded()) throw Error(p + ": not valid JSON");
        return j;
    };
    auto exists = [](const std::string& p) { return ::access(p.c_str(), R_OK) == 0; };
    // Execution order: the candidate's trace.json, else the reference's.
    std::string order_file = exists(cand_dir + "/trace.json") ? cand_dir + "/trace.json" : ref_dir + "/trace.json";
    if (!exists(order_file)) throw Error("compare: neither folder has a trace.json listing the modules in order");
    auto order = read_json(order_file);
    // Reference files: <name>.npy, or the file an index.json (validation/make_fixtures.py) maps it to.
    nlohmann::json index =
        exists(ref_dir + "/index.json") ? read_json(ref_dir + "/index.json") : nlohmann::json::object();
    auto ref_path = [&](const std::string& name) -> std::string {
        if (index.contains(name) && index[name].contains("file") && index[name]["file"].is_string()) {
            std::string f = index[name]["file"].get<std::string>();
            if (f.rfind("act/", 0) == 0) f = f.substr(4);
            return exists(ref_dir + "/" + f) ? ref_dir + "/" + f
                                             : ref_dir + "/../" + index[name]["file"].get<std::string>();
        }
        return ref_dir + "/" + name + ".npy";
    };
    int compared = 0, failed = 0;
    std::string first_bad;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (auto& jn : order) {
        const std::string name = jn.get<std::string>();
        const std::string rp = ref_path(name), cp = cand_dir + "/" + name + ".npy";
        if (!exists(rp) || !exists(cp)) continue;
        auto ref = npy_load_as<double>(rp);
        auto cand = npy_load_as<double>(cp);
        auto r = compare(cand, ref, tol, name);
        ++compared;
        if (!r.ok && failed++ == 0) first_bad = name;
        rows.push_back(
            {{"module", name}, {"ok", r.ok}, {"max_abs", r.max_abs}, {"rel_l2", r.rel_l2}, {"n_bad", r.n_bad}});
        if (!a.has("json")) std::printf("%-4s %s\n", r.ok ? "ok" : "FAIL", r.message.c_str());
    }
    if (compared == 0) throw Error("compare: no module has a .npy in both folders");
    if (a.has("json")) {
        nlohmann::ordered_json j{{"compared", compared}, {"failed", failed}, {"first_out_of_tolerance", first_bad},
                                 {"atol", tol.atol},     {"rtol", tol.rtol}, {"modules", rows}};
        std::cout << j.dump() << "\n";
    } else {
        std::printf("%d modules compared, %d out of tolerance%s\n", compared, failed,
                    failed ? (", first: " + first_bad).c_str() : "");
    }
    return failed ? 1 : 0;
}

}  // namespace cmd_compare

Command compare_command() {
    using namespace cmd_compare;
    return {"compare",
            "module-by-module check of two traces (evsam embed --trace-dir, or upstream's activations); names the "
            "first module out of tolerance (exit 1)",
            {required("reference", "DIR", "the reference trace (<name>.npy files, trace.json or index.json)"),
             required("candidate", "DIR", "the trace to check"),
             value("tolerance", "NAME", "an entry of the tolerance table (default encoder-float)"),
             toggle("json", "print one JSON object")},
            run};
}

}  // namespace evsam::tool
