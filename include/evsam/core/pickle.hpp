// evsam: a SAFE subset of Python's unpickler, for the data.pkl inside torch.save archives.
//
// torch.save pickles a state_dict with protocol 2: an OrderedDict built by
// REDUCE on `collections.OrderedDict`, whose values are tensors rebuilt by
// REDUCE on `torch._utils._rebuild_tensor_v2` from a persistent-id storage
// tuple ('storage', torch.FloatStorage, key, location, numel).
//
// This reader is a data parser, not an interpreter. It never calls anything:
//   * only the opcodes torch.save emits for tensors and containers are accepted
//     (any other opcode is an error naming it);
//   * GLOBAL accepts only the allow-list below and refuses every other name
//     (e.g. "refused pickle global 'posix.system'") the moment it is read;
//   * REDUCE on an allowed global builds a plain data record (a dict, a tensor
//     descriptor); nothing from the file is executed.
// It mirrors what torch.load(weights_only=True) allows, minus everything a
// state_dict does not need. Stack, memo and string sizes are bounded by the
// input size, so a hostile file cannot make it loop or allocate without bound.
// The returned tree is checked too: a reference cycle (built through the memo)
// or nesting deeper than kPickleMaxDepth levels is an error, and every object
// not in the returned tree is unlinked before it is freed, so nothing leaks and
// freeing never recurses deeper than that (a 2 MB pickle of nested 1-tuples
// would otherwise overflow the stack). Dict keys are indexed (no quadratic time).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"

namespace evsam {

// Element types a checkpoint tensor can have.
enum class DType { f32, f64, f16, bf16, i64, i32, i16, i8, u8, boolean };

inline const char* dtype_name(DType d) {
    switch (d) {
        case DType::f32: return "float32";
        case DType::f64: return "float64";
        case DType::f16: return "float16";
        case DType::bf16: return "bfloat16";
        case DType::i64: return "int64";
        case DType::i32: return "int32";
        case DType::i16: return "int16";
        case DType::i8: return "int8";
        case DType::u8: return "uint8";
        case DType::boolean: return "bool";
    }
    return "?";
}
inline size_t dtype_size(DType d) {
    switch (d) {
        case DType::f64:
        case DType::i64: return 8;
        case DType::f32:
        case DType::i32: return 4;
        case DType::f16:
        case DType::bf16:
        case DType::i16: return 2;
        default: return 1;
    }
}
inline bool dtype_is_floating(DType d) {
    return d == DType::f32 || d == DType::f64 || d == DType::f16 || d == DType::bf16;
}

// A tensor as described by the pickle: a strided view into a named storage.
struct TensorDesc {
    DType dtype = DType::f32;
    std::string storage_key;  // data/<key> in the archive
    int64_t storage_numel = 0;
    int64_t offset = 0;   // in elements
    Shape shape, stride;  // stride in elements
};

struct PyObj;
using PyRef = std::shared_ptr<PyObj>;

struct PyObj {
    enum Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor } kind = None;
    int64_t i = 0;                            // Bool, Int
    double f = 0;                             // Float
    std::string s;                            // Str, Bytes, Global ("module.name")
    std::vector<PyRef> items;                 // Tuple, List
    std::vector<std::pair<PyRef, PyRef>> kv;  // Dict (insertion order kept)
    TensorDesc tensor;                        // Storage (dtype/key/numel), Tensor

    static PyRef make(Kind k) {
        auto p = std::make_shared<PyObj>();
        p->kind = k;
        return p;
    }
    const char* kind_name() const {
        static const char* n[] = {"None",  "bool", "int",  "float",  "str",     "bytes",
                                  "tuple", "list", "dict", "global", "storage", "tensor"};
        return n[kind];
    }
};

// Deepest container nesting unpickle_safe accepts (Python's default recursion limit).
constexpr size_t kPickleMaxDepth = 1000;

namespace detail {

// Globals a state_dict pickle may name. Storage classes map to their dtype.
inline bool pickle_storage_dtype(const std::string& g, DType& d) {
    static const std::pair<const char*, DType> table[] = {
        {"torch.FloatStorage", DType::f32},     {"torch.DoubleStorage", DType::f64}, {"torch.HalfStorage", DType::f16},
        {"torch.BFloat16Storage", DType::bf16}, {"torch.LongStorage", DType::i64},   {"torch.IntStorage", DType::i32},
        {"torch.ShortStorage", DType::i16},     {"torch.CharStorage", DType::i8},    {"torch.ByteStorage", DType::u8},
        {"torch.BoolStorage", DType::boolean}};
    for (auto& [name, dt] : table)
        if (g == name) {
            d = dt;
            return true;
        }
    return false;
}
inline bool pickle_global_allowed(const std::string& g) {
    DType d;
    return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
           g == "torch._utils._rebuild_parameter" || g == "torch._utils._rebuild_parameter_with_state" ||
           pickle_storage_dtype(g, d);
}

class Unpickler {
public:
    Unpickler(const uint8_t* data, size_t n, std::string what)
        : p_(data), end_(data + n), begin_(data), what_(std::move(what)) {}
    Unpickler(const Unpickler&) = delete;
    Unpickler& operator=(const Unpickler&) = delete;
    // Unlinks every object the caller does not get back (all of them after an error): what is
    // left is freed one object at a time, and cycles among them cannot leak.
    ~Unpickler() {
        for (auto& o : made_)
            if (!keep_.count(o.get())) {
                o->items.clear();
                o->kv.clear();
            }
    }

    PyRef run() {
        for (;;) {
            if (p_ >= end_) fail("pickle ends without a STOP opcode (truncated?)");
            const size_t at = static_cast<size_t>(p_ - begin_);
            const uint8_t op = *p_++;
            switch (op) {
                case 0x80: u8(); break;     // PROTO
                case 0x95: take(8); break;  // FRAME (length only; we read linearly)
                case '.': {                 // STOP
                    if (stack_.size() != 1 || !marks_.empty()) fail("pickle stack is not a single value at STOP");
                    PyRef root = pop();
                    check_tree(root.get());
                    return root;
                }
                case '(': marks_.push_back(stack_.size()); break;  // MARK
                case 'N': push(make(PyObj::None)); break;
                case 0x88: push_bool(true); break;                          // NEWTRUE
                case 0x89: push_bool(false); break;                         // NEWFALSE
                case 'K': push_int(u8()); break;                            // BININT1
                case 'M': push_int(rd_le(2)); break;                        // BININT2
                case 'J': push_int(static_cast<int32_t>(rd_le(4))); break;  // BININT
                case 0x8a: {                                                // LONG1
                    size_t n = u8();
                    if (n > 8) fail("integer wider than 64 bits");
                    const uint8_t* b = take(n);
                    uint64_t v = 0;
                    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
                    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
                    push_int(static_cast<int64_t>(v));
                    break;
                }
                case 'G': {  // BINFLOAT (big-endian double)
                    const uint8_t* b = take(8);
                    uint64_t v = 0;
                    for (int k = 0; k < 8; ++k) v = (v << 8) | b[k];
                    auto o = make(PyObj::Float);
                    std::memcpy(&o->f, &v, 8);
                    push(o);
                    break;
                }
                case 'X': push_str(PyObj::Str, rd_le(4)); break;    // BINUNICODE
                case 0x8c: push_str(PyObj::Str, u8()); break;       // SHORT_BINUNICODE
                case 0x8d: push_str(PyObj::Str, rd_le(8)); break;   // BINUNICODE8
                case 'B': push_str(PyObj::Bytes, rd_le(4)); break;  // BINBYTES
                case 'C': push_str(PyObj::Bytes, u8()); break;      // SHORT_BINBYTES
                case 'c': {                                         // GLOBAL "module\nname\n"
                    std::string mod = line(), name = line();
                    push_global(mod + "." + name);
                    break;
                }
                case 0x93: {  // STACK_GLOBAL
                    PyRef name = pop(), mod = pop();
                    if (mod->kind != PyObj::Str || name->kind != PyObj::Str) fail("STACK_GLOBAL needs two strings");
                    push_global(mod->s + "." + name->s);
                    break;
                }
                case 'q': memo_put(u8()); break;            // BINPUT
                case 'r': memo_put(rd_le(4)); break;        // LONG_BINPUT
                case 0x94: memo_put(memo_.size()); break;   // MEMOIZE
                case 'h': memo_get(u8()); break;            // BINGET
                case 'j': memo_get(rd_le(4)); break;        // LONG_BINGET
                case ')': push(make(PyObj::Tuple)); break;  // EMPTY_TUPLE
                case 't': {                                 // TUPLE
                    auto o = make(PyObj::Tuple);
                    o->items = pop_to_mark();
                    push(o);
                    break;
                }
                case 0x85:
                case 0x86:
                case 0x87: {  // TUPLE1..3
                    size_t n = op - 0x84u;
                    need(n);
                    auto o = make(PyObj::Tuple);
                    o->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
                    stack_.resize(stack_.size() - n);
                    push(o);
                    break;
                }
                case ']': push(make(PyObj::List)); break;  // EMPTY_LIST
                case 'l': {                                // LIST
                    auto o = make(PyObj::List);
                    o->items = pop_to_mark();
                    push(o);
                    break;
                }
                case 'a': {  // APPEND
                    PyRef v = pop();
                    list_top()->items.push_back(v);
                    break;
                }
                case 'e': {  // APPENDS
                    auto vs = pop_to_mark();
                    PyRef l = list_top();
                    l->items.insert(l->items.end(), vs.begin(), vs.end());
                    break;
                }
                case '}': push(make(PyObj::Dict)); break;  // EMPTY_DICT
                case 'd': {                                // DICT
                    auto vs = pop_to_mark();
                    auto o = make(PyObj::Dict);
                    set_items(o, vs);
                    push(o);
                    break;
                }
                case 's': {  // SETITEM
                    PyRef v = pop(), k = pop();
                    set_items(dict_top(), {k, v});
                    break;
                }
                case 'u': {  // SETITEMS
                    auto vs = pop_to_mark();
                    set_items(dict_top(), vs);
                    break;
                }
                case 'Q': {  // BINPERSID: ('storage', StorageType, key, location, numel)
                    PyRef pid = pop();
                    push(persistent_load(pid));
                    break;
                }
                case 'R': {  // REDUCE
                    PyRef args = pop(), fn = pop();
                    push(reduce(fn, args));
                    break;
                }
                case 'b': {  // BUILD: state on an OrderedDict (its _metadata) is accepted and dropped
                    PyRef state = pop();
                    need(1);
                    PyRef obj = stack_.back();
                    if (obj->kind == PyObj::Dict && (state->kind == PyObj::Dict || state->kind == PyObj::None)) break;
                    if (obj->kind == PyObj::Tensor &&
                        (state->kind == PyObj::Dict || state->kind == PyObj::None || state->kind == PyObj::Tuple))
                        break;
                    fail(std::string("BUILD on a ") + obj->kind_name() + " is not allowed");
                }
                default: {
                    char buf[64];
                    std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x at offset %zu", op, at);
                    fail(buf);
                }
            }
        }
    }

private:
    const uint8_t* p_;
    const uint8_t* end_;
    const uint8_t* begin_;
    std::string what_;
    std::vector<PyRef> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, PyRef> memo_;
    std::vector<PyRef> made_;                // every object created, see ~Unpickler
    std::unordered_set<const PyObj*> keep_;  // the returned tree
    std::unordered_map<const PyObj*, std::unordered_map<std::string, size_t>> dict_keys_;  // str key -> kv index

    PyRef make(PyObj::Kind k) {
        made_.push_back(PyObj::make(k));
        return made_.back();
    }
    // Iterative DFS over the tree under root: refuses cycles and nesting deeper than
    // kPickleMaxDepth, then marks the tree as kept.
    void check_tree(const PyObj* root) {
        auto child = [](const PyObj* o, size_t i) -> const PyObj* {
            if (i < o->items.size()) return o->items[i].get();
            i -= o->items.size();
            if (i / 2 < o->kv.size()) return (i % 2 ? o->kv[i / 2].second : o->kv[i / 2].first).get();
            return nullptr;
        };
        struct Frame {
            const PyObj* o;
            size_t next;
            size_t height;  // of the children done so far
        };
        const std::string too_deep =
            "pickle nests containers deeper than " + std::to_string(kPickleMaxDepth) + " levels";
        std::unordered_map<const PyObj*, size_t> height;  // finished objects
        std::unordered_set<const PyObj*> on_path;
        std::vector<Frame> path{{root, 0, 0}};
        on_path.insert(root);
        while (!path.empty()) {
            const PyObj* c = child(path.back().o, path.back().next);
            if (c) {
                ++path.back().next;
                if (on_path.count(c)) fail("pickle contains a reference cycle (a container inside itself)");
                auto it = height.find(c);
                if (it != height.end()) {
                    path.back().height = std::max(path.back().height, it->second);
                    continue;
                }
                if (path.size() >= kPickleMaxDepth) fail(too_deep);
                on_path.insert(c);
                path.push_back({c, 0, 0});
                continue;
            }
            const size_t h = path.back().height + 1;
            if (h > kPickleMaxDepth) fail(too_deep);
            height[path.back().o] = h;
            on_path.erase(path.back().o);
            path.pop_back();
            if (!path.empty()) path.back().height = std::max(path.back().height, h);
        }
        for (auto& e : height) keep_.insert(e.first);
    }

    [[noreturn]] void fail(const std::string& m) const { throw Error(what_ + ": " + m); }

    const uint8_t* take(uint64_t n) {
        if (static_cast<uint64_t>(end_ - p_) < n) fail("pickle data is truncated");
        const uint8_t* r = p_;
        p_ += n;
        return r;
    }
    uint8_t u8() { return *take(1); }
    uint64_t rd_le(int n) {
        const uint8_t* b = take(static_cast<uint64_t>(n));
        uint64_t v = 0;
        for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
        return v;
    }
    std::string line() {
        const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', static_cast<size_t>(end_ - p_)));
        if (!nl) fail("unterminated GLOBAL name");
        std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(nl - p_));
        p_ = nl + 1;
        return s;
    }
    void push(PyRef o) { stack_.push_back(std::move(o)); }
    void need(size_t n) const {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() < floor + n) fail("pickle stack underflow");
    }
    PyRef pop() {
        need(1);
        PyRef o = std::move(stack_.back());
        stack_.pop_back();
        return o;
    }
    std::vector<PyRef> pop_to_mark() {
        if (marks_.empty()) fail("pickle opcode needs a MARK but none is set");
        size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PyRef> r(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return r;
    }
    void push_bool(bool b) {
        auto o = make(PyObj::Bool);
        o->i = b;
        push(o);
    }
    void push_int(int64_t v) {
        auto o = make(PyObj::Int);
        o->i = v;
        push(o);
    }
    void push_str(PyObj::Kind k, uint64_t n) {
        const uint8_t* b = take(n);
        auto o = make(k);
        o->s.assign(reinterpret_cast<const char*>(b), static_cast<size_t>(n));
        push(o);
    }
    void push_global(const std::string& g) {
        if (!pickle_global_allowed(g))
            fail("refused pickle global '" + g + "' (only tensors and containers may appear in a checkpoint)");
        auto o = make(PyObj::Global);
        o->s = g;
        push(o);
    }
    void memo_put(uint64_t id) {
        if (stack_.empty()) fail("memo put on an empty stack");
        if (memo_.size() > static_cast<size_t>(end_ - begin_)) fail("memo grows beyond the pickle size");
        memo_[id] = stack_.back();
    }
    void memo_get(uint64_t id) {
        auto it = memo_.find(id);
        if (it == memo_.end()) fail("memo get of an unknown id " + std::to_string(id));
        push(it->second);
    }
    PyRef list_top() {
        need(1);
        if (stack_.back()->kind != PyObj::List) fail("APPEND target is not a list");
        return stack_.back();
    }
    PyRef dict_top() {
        need(1);
        if (stack_.back()->kind != PyObj::Dict) fail("SETITEM target is not a dict");
        return stack_.back();
    }
    void set_items(const PyRef& d, const std::vector<PyRef>& kv) {
        if (kv.size() % 2) fail("odd number of items for a dict");
        auto& index = dict_keys_[d.get()];  // every dict is filled here only, so it stays complete
        for (size_t k = 0; k < kv.size(); k += 2) {
            if (kv[k]->kind == PyObj::Str) {
                auto [it, fresh] = index.emplace(kv[k]->s, d->kv.size());
                if (!fresh) {  // d[key] = value replaces, keeping the first insertion's place
                    d->kv[it->second].second = kv[k + 1];
                    continue;
                }
            }
            d->kv.emplace_back(kv[k], kv[k + 1]);
        }
    }
    static bool int_tuple(const PyRef& t, Shape& out) {
        if (t->kind != PyObj::Tuple) return false;
        out.clear();
        for (auto& e : t->items) {
            if (e->kind != PyObj::Int) return false;
            out.push_back(e->i);
        }
        return true;
    }
    PyRef persistent_load(const PyRef& pid) {
        if (pid->kind != PyObj::Tuple || pid->items.size() != 5 || pid->items[0]->kind != PyObj::Str ||
            pid->items[0]->s != "storage")
            fail("persistent id is not a ('storage', type, key, location, numel) tuple");
        auto& it = pid->items;
        auto o = make(PyObj::Storage);
        if (it[1]->kind != PyObj::Global || !pickle_storage_dtype(it[1]->s, o->tensor.dtype))
            fail("persistent id names no storage type");
        if (it[2]->kind != PyObj::Str || it[4]->kind != PyObj::Int || it[4]->i < 0)
            fail("persistent id has a bad key or size");
        o->tensor.storage_key = it[2]->s;
        o->tensor.storage_numel = it[4]->i;
        return o;
    }
    PyRef reduce(const PyRef& fn, const PyRef& args) {
        if (fn->kind != PyObj::Global) fail(std::string("REDUCE on a ") + fn->kind_name() + ", not a global");
        if (args->kind != PyObj::Tuple) fail("REDUCE arguments are not a tuple");
        const auto& a = args->items;
        if (fn->s == "collections.OrderedDict") {
            if (!a.empty()) fail("OrderedDict(...) with arguments is not supported");
            return make(PyObj::Dict);
        }
        if (fn->s == "torch._utils._rebuild_tensor_v2") {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() < 4 || a[0]->kind != PyObj::Storage || a[1]->kind != PyObj::Int)
                fail("malformed _rebuild_tensor_v2 arguments");
            auto t = make(PyObj::Tensor);
            t->tensor = a[0]->tensor;
            t->tensor.offset = a[1]->i;
            if (!int_tuple(a[2], t->tensor.shape) || !int_tuple(a[3], t->tensor.stride) ||
                t->tensor.shape.size() != t->tensor.stride.size())
                fail("malformed tensor size/stride in _rebuild_tensor_v2");
            return t;
        }
        if (fn->s == "torch._utils._rebuild_parameter" || fn->s == "torch._utils._rebuild_parameter_with_state") {
            if (a.empty() || a[0]->kind != PyObj::Tensor) fail("malformed _rebuild_parameter arguments");
            return a[0];
        }
        fail("refused call of '" + fn->s + "'");
    }
};

}  // namespace detail

// Parses a pickle (protocol <= 5 opcodes, safe subset) into a PyObj tree.
inline PyRef unpickle_safe(const uint8_t* data, size_t n, const std::string& what) {
    return detail::Unpickler(data, n, what).run();
}

}  // namespace evsam
