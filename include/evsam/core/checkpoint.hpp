// evsam: checkpoint readers. Opens the official EfficientViT-SAM files as they are.
//
//   * torch.save archives (.pt / .pth): a ZIP (zip.hpp) holding <archive>/data.pkl
//     (a pickle, read by the safe subset in pickle.hpp) and one raw little-endian
//     storage per <archive>/data/<key>. Tensors are strided views into storages;
//     several tensors may share one storage. The payload is a dict of tensors, or a
//     dict whose "state_dict" entry is one (as upstream's load_state_dict_from_file).
//   * .safetensors: u64 header length, a JSON header, then raw data.
//
// The file is memory-mapped; tensors are materialised (converted to T and made
// contiguous) only when asked for. Every view is bounds-checked against its
// storage when the file is opened, so later reads cannot go out of range.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/half.hpp"
#include "evsam/core/pickle.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/core/zip.hpp"

namespace evsam {

// Read-only view of a whole file: mmap'ed when possible, else an owned copy.
class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            const int e = errno;
            if (e == ENOENT || e == ENOTDIR) throw FileNotFound(path + ": cannot open (" + std::strerror(e) + ")");
            throw Error(path + ": cannot open (" + std::strerror(e) + ")");
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            throw Error(path + ": not a regular file");
        }
        size_ = static_cast<size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                ::close(fd);
                throw Error(path + ": cannot map file (" + std::strerror(errno) + ")");
            }
            map_ = p;
            data_ = static_cast<const uint8_t*>(p);
        }
        ::close(fd);
    }
    explicit MappedFile(std::vector<uint8_t> bytes) : owned_(std::make_shared<std::vector<uint8_t>>(std::move(bytes))) {
        data_ = owned_->data();
        size_ = owned_->size();
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }
    MappedFile& operator=(MappedFile&& o) noexcept {
        std::swap(map_, o.map_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        std::swap(owned_, o.owned_);
        return *this;
    }
    ~MappedFile() {
        if (map_) ::munmap(map_, size_);
    }
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    // Drops the mapped pages wholly inside [p, p + n) from memory (madvise MADV_DONTNEED): a later
    // read faults them in again from the file, so nothing changes but the resident size. Loading a
    // model calls it after each tensor is copied, so the file's pages and the weights are not both
    // resident (ViT-H: 2.5 GB each). No-op for an owned copy.
    void release(const uint8_t* p, size_t n) const {
        if (!map_ || n == 0) return;
        const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
        const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
        const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
        if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }

private:
    void* map_ = nullptr;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::shared_ptr<std::vector<uint8_t>> owned_;
};

// One tensor of a checkpoint: a bounds-checked strided view into raw bytes.
struct CheckpointTensor {
    std::string name;
    TensorDesc desc;
    const uint8_t* storage = nullptr;  // start of its storage's bytes
    int64_t numel() const { return shape_numel(desc.shape); }
};

class Checkpoint {
public:
    // Opens a .pt (torch.save zip) or .safetensors file; the format is detected from the bytes.
    static Checkpoint open(const std::string& path) { return Checkpoint(MappedFile(path), path); }
    static Checkpoint from_memory(std::vector<uint8_t> bytes, const std::string& what = "<memory>") {
        return Checkpoint(MappedFile(std::move(bytes)), what);
    }

    const std::string& path() const { return path_; }
    const std::string& format() const { return format_; }
    bool wrapped() const { return wrapped_; }  // payload was {"state_dict": ...}
    const std::vector<CheckpointTensor>& tensors() const { return tensors_; }
    const CheckpointTensor* find(const std::string& name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &tensors_[it->second];
    }
    // Most common floating dtype of the stored tensors ("float32", "float16", ...).
    std::string float_dtype() const {
        std::map<DType, int64_t> count;
        for (auto& t : tensors_)
            if (dtype_is_floating(t.desc.dtype)) count[t.desc.dtype] += t.numel();
        if (count.empty()) return "none";
        auto best = std::max_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second; });
        return dtype_name(best->first);
    }

    // Copies tensor t into out[0 .. numel) in row-major order, converting to T.
    template <class T>
    static void read(const CheckpointTensor& t, T* out) {
        const TensorDesc& d = t.desc;
        const size_t nd = d.shape.size();
        const int64_t n = t.numel();
        if (n == 0) return;
        std::vector<int64_t> idx(nd, 0);
        int64_t src = d.offset;
        for (int64_t k = 0; k < n; ++k) {
            out[k] = element<T>(t.storage, d.dtype, src);
            for (size_t dim = nd; dim-- > 0;) {  // odometer increment
                src += d.stride[dim];
                if (++idx[dim] < d.shape[dim]) break;
                src -= d.stride[dim] * d.shape[dim];
                idx[dim] = 0;
            }
        }
    }
    // Lets the memory of the bytes t spans in its storage go (MappedFile::release); its values stay
    // readable. Only t's own span: tensors sharing a storage keep their pages until they are read.
    void release(const CheckpointTensor& t) const {
        const TensorDesc& d = t.desc;
        if (t.numel() == 0) return;
        int64_t last = d.offset;  // the element furthest into the storage (strides are >= 0)
        for (size_t i = 0; i < d.shape.size(); ++i) last += (d.shape[i] - 1) * d.stride[i];
        const size_t es = dtype_size(d.dtype);
        file_.release(t.storage + static_cast<size_t>(d.offset) * es, static_cast<size_t>(last - d.offset + 1) * es);
    }
    template <class T>
    static Tensor<T> to_tensor(const CheckpointTensor& t) {
        Tensor<T> r(t.desc.shape);
        read(t, r.data());
        return r;
    }

private:
    MappedFile file_;
    std::string path_, format_;
    bool wrapped_ = false;
    std::vector<CheckpointTensor> tensors_;
    std::map<std::string, size_t> index_;

    // Anything wrong with the bytes is a CorruptFile (the message says what).
    Checkpoint(MappedFile f, std::string path) : file_(std::move(f)), path_(std::move(path)) {
        try {
            parse();
        } catch (const CorruptFile&) {
            throw;
        } catch (const Error& e) {
            throw CorruptFile(e.what());
        }
    }
    void parse() {
        const uint8_t* data = file_.data();
        const size_t n = file_.size();
        if (n == 0) throw Error(path_ + ": checkpoint file is empty");
        if (looks_like_zip(data, n)) {
            format_ = "torch.save";
            open_torch_zip();
        } else if (n >= 2 && data[0] == 0x80 && data[1] <= 5) {
            throw Error(path_ +
                        ": legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with "
                        "torch.save(torch.load(f, weights_only=True), f2)");
        } else if (n >= 9 && data[8] == '{') {
            format_ = "safetensors";
            open_safetensors();
        } else {
            throw Error(path_ + ": not a checkpoint (neither a torch.save zip archive nor safetensors)");
        }
        for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
    }

    template <class T>
    static T element(const uint8_t* base, DType dt, int64_t i) {
        const uint8_t* p = base + static_cast<size_t>(i) * dtype_size(dt);
        switch (dt) {
            case DType::f32: {
                float v;
                std::memcpy(&v, p, 4);
                return static_cast<T>(v);
            }
            case DType::f64: {
                double v;
                std::memcpy(&v, p, 8);
                return static_cast<T>(v);
            }
            case DType::f16: {
                uint16_t v;
                std::memcpy(&v, p, 2);
                return static_cast<T>(fp16_to_float(v));
            }
            case DType::bf16: {
                uint16_t v;
                std::memcpy(&v, p, 2);
                return static_cast<T>(bf16_to_float(v));
            }
            case DType::i64: {
                int64_t v;
                std::memcpy(&v, p, 8);
                return static_cast<T>(v);
            }
            case DType::i32: {
                int32_t v;
                std::memcpy(&v, p, 4);
                return static_cast<T>(v);
            }
            case DType::i16: {
                int16_t v;
                std::memcpy(&v, p, 2);
                return static_cast<T>(v);
            }
            case DType::i8: return static_cast<T>(static_cast<int8_t>(*p));
            case DType::u8:
            case DType::boolean: return static_cast<T>(*p);
        }
        return T{};
    }

    // Checks that the view lies inside a storage of storage_bytes bytes.
    void check_view(const std::string& name, const TensorDesc& d, uint64_t storage_bytes) const {
        auto bad = [&](const std::string& m) { return Error(path_ + ": tensor '" + name + "' " + m); };
        if (d.offset < 0) throw bad("has a negative storage offset");
        const uint64_t es = dtype_size(d.dtype);
        if (static_cast<uint64_t>(d.storage_numel) > storage_bytes / es)
            throw bad("claims a storage of " + std::to_string(d.storage_numel) + " elements but only " +
                      std::to_string(storage_bytes / es) + " are stored (truncated?)");
        int64_t numel;
        try {
            numel = shape_numel(d.shape);
        } catch (const Error& e) {
            throw bad(std::string("has a bad shape: ") + e.what());
        }
        if (numel == 0) return;
        // Largest element index reached by the view; computed in 128 bits so it cannot overflow.
        __int128 last = d.offset;
        for (size_t k = 0; k < d.shape.size(); ++k) {
            if (d.stride[k] < 0) throw bad("has a negative stride");
            last += static_cast<__int128>(d.shape[k] - 1) * d.stride[k];
        }
        if (last >= d.storage_numel)
            throw bad("is a view " + shape_str(d.shape) + " that reaches past the end of its storage");
    }

    void open_torch_zip() {
        const uint8_t* data = file_.data();
        auto entries = zip_list(data, file_.size(), path_);
        const ZipEntry* pkl = nullptr;
        std::string prefix;
        for (auto& e : entries) {
            const std::string suffix = "data.pkl";
            if (e.name.size() >= suffix.size() &&
                e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                std::string pre = e.name.substr(0, e.name.size() - suffix.size());
                if (pre.empty() || (pre.back() == '/' && pre.find('/') == pre.size() - 1)) {
                    pkl = &e;
                    prefix = pre;
                    break;
                }
            }
        }
        if (!pkl) throw Error(path_ + ": zip archive has no data.pkl; not a torch.save checkpoint");
        std::map<std::string, const ZipEntry*> by_name;
        for (auto& e : entries) {
            if (e.method != 0)
                throw Error(path_ + ": zip entry '" + e.name +
                            "' is compressed; torch.save archives are stored uncompressed");
            by_name[e.name] = &e;
        }
        if (auto it = by_name.find(prefix + "byteorder"); it != by_name.end()) {
            std::string bo(reinterpret_cast<const char*>(data + it->second->data_offset),
                           static_cast<size_t>(it->second->size));
            if (bo != "little")
                throw Error(path_ + ": big-endian checkpoints are not supported (byteorder '" + bo + "')");
        }

        PyRef root = unpickle_safe(data + pkl->data_offset, static_cast<size_t>(pkl->size), path_);
        root = unwrap(root);
        for (auto& [k, v] : root->kv) {
            if (k->kind != PyObj::Str) throw Error(path_ + ": state_dict has a non-string key");
            if (v->kind != PyObj::Tensor)
                throw Error(path_ + ": state_dict entry '" + k->s + "' is a " + v->kind_name() + ", not a tensor");
            auto it = by_name.find(prefix + "data/" + v->tensor.storage_key);
            if (it == by_name.end())
                throw Error(path_ + ": storage data/" + v->tensor.storage_key + " of tensor '" + k->s +
                            "' is missing from the archive");
            check_view(k->s, v->tensor, it->second->size);
            tensors_.push_back({k->s, v->tensor, data + it->second->data_offset});
        }
    }

    PyRef unwrap(PyRef root) {
        if (root->kind != PyObj::Dict)
            throw Error(path_ + ": checkpoint payload is a " + root->kind_name() +
                        ", expected a dict of tensors (a state_dict)");
        for (auto& [k, v] : root->kv)
            if (k->kind == PyObj::Str && k->s == "state_dict" && v->kind == PyObj::Dict) {
                wrapped_ = true;
                return v;
            }
        return root;
    }

    void open_safetensors() {
        const uint8_t* data = file_.data();
        const size_t n = file_.size();
        uint64_t hlen = detail::rd64(data);
        if (hlen > n - 8) throw Error(path_ + ": safetensors header length exceeds the file size (truncated?)");
        auto header = nlohmann::ordered_json::parse(data + 8, data + 8 + hlen, nullptr, /*allow_exceptions=*/false);
        if (!header.is_object()) throw Error(path_ + ": safetensors header is not a JSON object");
        const uint8_t* body = data + 8 + hlen;
        const uint64_t body_size = n - 8 - hlen;
        static const std::map<std::string, DType> dtypes = {
            {"F32", DType::f32}, {"F64", DType::f64},     {"F16", DType::f16}, {"BF16", DType::bf16},
            {"I64", DType::i64}, {"I32", DType::i32},     {"I16", DType::i16}, {"I8", DType::i8},
            {"U8", DType::u8},   {"BOOL", DType::boolean}};
        for (auto& item : header.items()) {
            const std::string& name = item.key();  // not a structured binding: lambdas below capture it (C++17)
            auto& info = item.value();
            if (name == "__metadata__") continue;
            auto bad = [&](const std::string& m) { return Error(path_ + ": safetensors entry '" + name + "' " + m); };
            if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") ||
                !info.contains("data_offsets"))
                throw bad("lacks dtype/shape/data_offsets");
            const auto& jd = info["dtype"];
            auto dt = jd.is_string() ? dtypes.find(jd.get<std::string>()) : dtypes.end();
            if (dt == dtypes.end()) throw bad("has an unsupported dtype");
            TensorDesc d;
            d.dtype = dt->second;
            if (!info["shape"].is_array()) throw bad("has a bad shape");
            for (auto& s : info["shape"]) {
                if (!s.is_number_unsigned() || s.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
                    throw bad("has a bad shape");  // (masking the top bit would turn 2^63 + 5 into 5)
                d.shape.push_back(static_cast<int64_t>(s.get<uint64_t>()));
            }
            const auto& off = info["data_offsets"];
            if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
                throw bad("has bad data_offsets");
            uint64_t b0 = off[0].get<uint64_t>(), b1 = off[1].get<uint64_t>();
            if (b0 > b1 || b1 > body_size) throw bad("has data_offsets outside the file (truncated?)");
            int64_t numel;
            try {
                numel = shape_numel(d.shape);
            } catch (const Error&) {
                throw bad("has a bad shape");
            }
            if (static_cast<uint64_t>(numel) > (b1 - b0) / dtype_size(d.dtype) ||
                static_cast<uint64_t>(numel) * dtype_size(d.dtype) != b1 - b0)
                throw bad("byte size does not match its shape " + shape_str(d.shape));
            d.storage_numel = numel;
            d.stride.assign(d.shape.size(), 1);
            for (size_t k = d.shape.size(); k-- > 1;) d.stride[k - 1] = d.stride[k] * d.shape[k];
            d.storage_key = name;
            tensors_.push_back({name, d, body + b0});
        }
    }
};

}  // namespace evsam
