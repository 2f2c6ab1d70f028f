// evsam tool: what the command files share. Each command is one cmd_<name>.cpp that returns its
// Command: name, a one-line summary and its flags (usage and --help are generated from them), and
// the function that runs it on the parsed flags. main.cpp holds the table of commands.
#pragma once
#include <string>
#include <vector>

#include "args.hpp"

namespace evsam::tool {

struct Command {
    std::string name;
    std::string summary;  // one line: what the command does and writes
    std::vector<FlagSpec> flags;
    int (*run)(const Args&);
};

Command info_command();
Command preprocess_command();
Command embed_command();
Command predict_command();
Command everything_command();
Command compare_command();
Command bench_command();
Command classify_command();
Command segment_command();
Command eval_cls_command();
Command eval_seg_command();
Command eval_sam_command();
Command serve_command();

// --threads N (every model command takes it): the OpenMP thread count.
void set_threads(const Args& a);

}  // namespace evsam::tool
