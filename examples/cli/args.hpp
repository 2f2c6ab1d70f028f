// evsam tool: strict command-line parsing, and the usage text generated from the same flag specs.
//
// `evsam <subcommand> --flag value --switch ...`. Each subcommand declares its
// flags; an unknown flag, a missing value, a repeated flag, a missing required
// flag, or a value that is not a number where one is expected is an
// evsam::Error with a one-line message naming the flag. Kept in a header so
// the fuzzers (tests/fuzz) can drive it directly.
#pragma once
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"

namespace evsam::tool {

struct FlagSpec {
    std::string name;  // without the leading "--"
    bool takes_value;  // false: a switch
    bool required;
    std::string metavar;      // "FILE", "N", ... for usage lines
    std::string doc;          // one line for `evsam <command> --help`
    bool repeatable = false;  // may be given several times (e.g. --point)
};

// Flag specs, readably: required("weights", "FILE", doc), value(...) (optional), repeated(...), toggle(name, doc).
inline FlagSpec required(std::string name, std::string metavar, std::string doc) {
    return {std::move(name), true, true, std::move(metavar), std::move(doc)};
}
inline FlagSpec value(std::string name, std::string metavar, std::string doc) {
    return {std::move(name), true, false, std::move(metavar), std::move(doc)};
}
inline FlagSpec repeated(std::string name, std::string metavar, std::string doc) {
    return {std::move(name), true, false, std::move(metavar), std::move(doc), true};
}
inline FlagSpec toggle(std::string name, std::string doc) {
    return {std::move(name), false, false, "", std::move(doc)};
}

// "--weights FILE" / "[--model NAME]" / "[--point X,Y[,LABEL]]..." / "[--json]"
inline std::string flag_usage(const FlagSpec& s) {
    const std::string f = "--" + s.name + (s.takes_value ? " " + s.metavar : "");
    return s.required ? f : "[" + f + "]" + (s.repeatable ? "..." : "");
}

// Words laid out in lines of at most `width` columns, every line after the first indented by `indent`.
inline std::string wrap_words(const std::vector<std::string>& words, size_t first_col, size_t indent,
                              size_t width = 100) {
    std::string out;
    size_t col = first_col;
    for (size_t i = 0; i < words.size(); ++i) {
        if (i > 0 && col + 1 + words[i].size() > width) {
            out += "\n" + std::string(indent, ' ');
            col = indent;
        } else if (i > 0) {
            out += ' ';
            ++col;
        }
        out += words[i];
        col += words[i].size();
    }
    return out;
}

// Prose wrapped the same way.
inline std::string wrap_text(const std::string& text, size_t first_col, size_t indent, size_t width = 100) {
    std::vector<std::string> words;
    for (size_t i = 0; i < text.size();) {
        const size_t j = std::min(text.find(' ', i), text.size());
        if (j > i) words.push_back(text.substr(i, j - i));
        i = j + 1;
    }
    return wrap_words(words, first_col, indent, width);
}

// A command's flags for its usage line ("--weights FILE [--model NAME] ..."), wrapped.
inline std::string usage_line(const std::vector<FlagSpec>& specs, size_t indent) {
    std::vector<std::string> words;
    for (auto& s : specs) words.push_back(flag_usage(s));
    return wrap_words(words, indent, indent);
}

// `evsam <command> --help`: the usage, the summary and one line per flag.
inline std::string command_help(const std::string& command, const std::string& summary,
                                const std::vector<FlagSpec>& specs) {
    const std::string head = "usage: evsam " + command + " ";
    std::string h = head + usage_line(specs, head.size()) + "\n\n" + wrap_text(summary, 0, 0) + "\n\nflags:\n";
    auto bare = [](const FlagSpec& s) { return "--" + s.name + (s.takes_value ? " " + s.metavar : ""); };
    size_t w = 0;
    for (auto& s : specs) w = std::max(w, bare(s).size());
    for (auto& s : specs) {
        const std::string f = bare(s);
        h += "  " + f + std::string(w + 2 - f.size(), ' ') + s.doc + (s.required ? " (required)" : "") +
             (s.repeatable ? " (repeatable)" : "") + "\n";
    }
    return h;
}

class Args {
public:
    Args(std::string command, std::vector<FlagSpec> specs, const std::vector<std::string>& argv)
        : command_(std::move(command)), specs_(std::move(specs)) {
        for (size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (a.size() < 3 || a.compare(0, 2, "--") != 0)
                throw Error(command_ + ": unexpected argument '" + a + "' (flags start with --)");
            std::string name = a.substr(2), value;
            bool has_inline = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_inline = true;
            }
            const FlagSpec* spec = find(name);
            if (!spec) throw Error(command_ + ": unknown flag --" + name + " (see 'evsam " + command_ + " --help')");
            if (values_.count(name) && !spec->repeatable) throw Error(command_ + ": flag --" + name + " given twice");
            if (spec->takes_value) {
                if (!has_inline) {
                    if (i + 1 >= argv.size()) throw Error(command_ + ": flag --" + name + " needs a value");
                    value = argv[++i];
                }
                if (value.empty()) throw Error(command_ + ": flag --" + name + " has an empty value");
            } else if (has_inline) {
                throw Error(command_ + ": flag --" + name + " takes no value");
            }
            if (!values_.count(name)) values_[name] = value;
            all_[name].push_back(value);
        }
        for (auto& s : specs_)
            if (s.required && !values_.count(s.name)) throw Error(command_ + ": missing required flag --" + s.name);
    }

    bool has(const std::string& name) const { return values_.count(name) > 0; }
    // Every value of a repeatable flag, in command-line order.
    std::vector<std::string> all(const std::string& name) const {
        auto it = all_.find(name);
        return it == all_.end() ? std::vector<std::string>{} : it->second;
    }
    // "a,b,c" -> finite numbers; `what` names the flag in errors; count must be in [min_n, max_n].
    std::vector<double> number_list(const std::string& text, const std::string& what, size_t min_n,
                                    size_t max_n) const {
        std::vector<double> out;
        size_t start = 0;
        for (;;) {
            size_t comma = text.find(',', start);
            std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            out.push_back(parse_real(item, what + " '" + text + "'", -1e9, 1e9));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (out.size() < min_n || out.size() > max_n)
            throw Error(
                command_ + ": " + what + " '" + text + "' needs " +
                (min_n == max_n ? std::to_string(min_n) : std::to_string(min_n) + " or " + std::to_string(max_n)) +
                " comma-separated numbers, got " + std::to_string(out.size()));
        return out;
    }
    std::string str(const std::string& name, const std::string& def = "") const {
        auto it = values_.find(name);
        return it == values_.end() ? def : it->second;
    }
    int64_t integer(const std::string& name, int64_t def, int64_t lo, int64_t hi) const {
        auto it = values_.find(name);
        if (it == values_.end()) return def;
        const char* s = it->second.c_str();
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            throw Error(command_ + ": --" + name + " expects an integer, got '" + it->second + "'");
        if (v < lo || v > hi)
            throw Error(command_ + ": --" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                        "], got " + it->second);
        return v;
    }
    double real(const std::string& name, double def, double lo, double hi) const {
        auto it = values_.find(name);
        if (it == values_.end()) return def;
        return parse_real(it->second, "--" + name, lo, hi);
    }
    // One of a fixed set of words.
    std::string choice(const std::string& name, const std::string& def, const std::vector<std::string>& allowed) const {
        std::string v = str(name, def);
        for (auto& a : allowed)
            if (v == a) return v;
        std::string list;
        for (auto& a : allowed) list += (list.empty() ? "" : "|") + a;
        throw Error(command_ + ": --" + name + " must be one of " + list + ", got '" + v + "'");
    }

    // A finite number in [lo, hi]; `what` names it in the error.
    double parse_real(const std::string& text, const std::string& what, double lo, double hi) const {
        const char* s = text.c_str();
        char* end = nullptr;
        errno = 0;
        double v = std::strtod(s, &end);
        if (end == s || *end != '\0' || errno == ERANGE)
            throw Error(command_ + ": " + what + " expects a number, got '" + text + "'");
        if (!std::isfinite(v)) throw Error(command_ + ": " + what + " must be finite, got '" + text + "'");
        if (v < lo || v > hi)
            throw Error(command_ + ": " + what + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                        "], got " + text);
        return v;
    }

private:
    std::string command_;
    std::vector<FlagSpec> specs_;
    std::map<std::string, std::string> values_;
    std::map<std::string, std::vector<std::string>> all_;

    const FlagSpec* find(const std::string& n) const {
        for (auto& s : specs_)
            if (s.name == n) return &s;
        return nullptr;
    }
};

}  // namespace evsam::tool
