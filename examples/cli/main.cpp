// evsam: the command-line tool. Subcommands and flags are a contract (see README.md); each
// command lives in its own cmd_<name>.cpp, and its usage is generated from its flag specs.
//
// Every error is one line on stderr ("evsam: error: ...") and a non-zero exit.
// Output files are written atomically: they appear complete or not at all.
#include <malloc.h>
#include <omp.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "evsam/registry.hpp"

namespace evsam::tool {

void set_threads(const Args& a) {
    if (a.has("threads")) omp_set_num_threads(static_cast<int>(a.integer("threads", 1, 1, 1024)));
}

// Named, not anonymous: the tool is a unity build (examples/CMakeLists.txt).
namespace cli_main {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        info_command(),     preprocess_command(), embed_command(),    predict_command(), everything_command(),
        bench_command(),    compare_command(),    classify_command(), segment_command(), eval_cls_command(),
        eval_seg_command(), eval_sam_command(),   serve_command()};
    return table;
}

// `evsam --help`: every command's usage line and summary, the backends and the models.
std::string usage() {
    std::string u = "usage: evsam <command> [flags]\ncommands:\n";
    for (const Command& c : commands()) {
        std::string name = "  " + c.name;
        name += std::string(name.size() < 14 ? 14 - name.size() : 1, ' ');
        u += name + usage_line(c.flags, name.size()) + "\n";
        u += std::string(name.size() + 2, ' ') + wrap_text(c.summary, name.size() + 2, name.size() + 2) + "\n";
    }
    u += "backends: cpu (default); cuda in builds configured with -DEVSAM_WITH_CUDA=ON (embed and bench: the\n"
         "          image encoder; predict and everything need the decoder on CUDA, which is not there yet)\n";
    u += "models:";  // grouped by encoder resolution, in registry order
    const auto& reg = model_registry();
    for (size_t i = 0; i < reg.size();) {
        const int64_t r = config_transform(reg[i].config()).resolution;
        u += i ? ", " : " ";
        const bool first = i == 0;
        for (; i < reg.size() && config_transform(reg[i].config()).resolution == r; ++i) u += reg[i].name + " ";
        u += "(" + std::to_string(r) + "x" + std::to_string(r) + (first ? " encoder input)" : ")");
    }
    u += "\nclassifiers (evsam classify; upstream's zoo keys, \"efficientvit-\" optional):";
    for (const auto& e : cls_registry()) {
        const std::string key = e.title.substr(std::string("efficientvit-").size());
        u += " " + key + "-r{";
        const auto rs = e.config().resolutions;
        for (size_t i = 0; i < rs.size(); ++i) u += (i ? "," : "") + std::to_string(rs[i]);
        u += "}";
    }
    u += "\nsegmenters (evsam segment):";
    for (const auto& e : seg_registry()) u += " " + e.name;
    u += "\nrun 'evsam <command> --help' for a command's flags\n";
    return u;
}

int dispatch(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << usage();
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    const Command* c = nullptr;
    for (const Command& k : commands())
        if (k.name == cmd) c = &k;
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) {  // a command's flags; any other word: all
        std::cout << (c ? command_help(c->name, c->summary, c->flags) : usage());
        return 0;
    }
    if (cmd == "--version") {
        std::cout << "evsam 0.1.0\n";
        return 0;
    }
    if (c) return c->run(Args(c->name, c->flags, rest));
    throw Error("unknown command '" + cmd + "' (run 'evsam --help')");
}

}  // namespace cli_main
}  // namespace evsam::tool

int main(int argc, char** argv) {
    // Activations are large and short-lived: keep freed blocks in the heap for the next layer
    // instead of returning them to the kernel (glibc would mmap/munmap each one, and every
    // forward pass would pay for page faults and zeroed pages again).
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return evsam::tool::cli_main::dispatch(args);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "evsam: error: out of memory\n");
    } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& c : msg)
            if (c == '\n' || c == '\r') c = ' ';
        std::fprintf(stderr, "evsam: error: %s\n", msg.c_str());
    }
    return 1;
}
