// evsam: tensor functions the modules call where upstream calls torch's (a + b with batch
// broadcasting, torch.cat, narrow, select, stack, repeat_interleave, expand, flatten/permute), so a
// forward reads one line per PyTorch statement. The loops are in the ops (ops/layout.hpp); B is the
// backend whose ops run them (a backend without the op does not compile).
//
// Tensors are batch-major. Broadcasting is over the batch only: a batch of 1 is repeated for every
// batch entry of the other operand, as torch broadcasts image_pe over the prompts.
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "evsam/core/error.hpp"
#include "evsam/core/tensor.hpp"
#include "evsam/ops/layout.hpp"

namespace evsam::fn {

namespace detail {
// Elements of x after dim d (the size of one index of dim d-1), and before it.
inline int64_t inner(const Shape& s, size_t d) {
    int64_t n = 1;
    for (size_t i = d; i < s.size(); ++i) n *= s[i];
    return n;
}
inline int64_t outer(const Shape& s, size_t d) {
    int64_t n = 1;
    for (size_t i = 0; i < d && i < s.size(); ++i) n *= s[i];
    return n;
}
}  // namespace detail

// a + b, where both have one shape, or one of them a batch of 1 (broadcast over the other's batch).
template <class B, class T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    const bool same = a.shape() == b.shape();
    const bool a1 = !same && a.dim() == b.dim() && a.dim() > 0 && a.size(0) == 1 && a.numel() * b.size(0) == b.numel();
    const bool b1 = !same && a.dim() == b.dim() && b.dim() > 0 && b.size(0) == 1 && b.numel() * a.size(0) == a.numel();
    EVSAM_CHECK(same || a1 || b1,
                "add: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " do not broadcast");
    const Tensor<T>& big = a1 ? b : a;
    const int64_t Bn = big.dim() ? big.size(0) : 1, n = Bn ? big.numel() / Bn : 0;
    Tensor<T> r(big.shape(), Tensor<T>::uninitialized);
    batch_add_forward(r.data(), a.data(), b.data(), Bn, n, n, a1 ? 0 : n, b1 ? 0 : n, B{});
    return r;
}

// a += b, b of a's shape or a batch of 1.
template <class B, class T>
void add_(Tensor<T>& a, const Tensor<T>& b) {
    const bool b1 = a.shape() != b.shape() && a.dim() == b.dim() && b.dim() > 0 && b.size(0) == 1 &&
                    b.numel() * a.size(0) == a.numel();
    EVSAM_CHECK(a.shape() == b.shape() || b1,
                "add: shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + " differ");
    const int64_t Bn = a.dim() ? a.size(0) : 1, n = Bn ? a.numel() / Bn : 0;
    batch_add_forward(a.data(), a.data(), b.data(), Bn, n, n, n, b1 ? 0 : n, B{});
}

// torch.cat(parts, dim): every part has the others' shape but along dim; for dim >= 1 a part with
// a batch of 1 is expanded to the others' batch (output_tokens.unsqueeze(0).expand(B, -1, -1)).
template <class B, class T>
Tensor<T> cat(std::initializer_list<const Tensor<T>*> part_list, int64_t dim) {
    const std::vector<const Tensor<T>*> parts(part_list);
    EVSAM_CHECK(!parts.empty() && dim >= 0 && dim < parts[0]->dim(), "cat: no parts, or dim out of range");
    const size_t d = static_cast<size_t>(dim);
    Shape s = parts[0]->shape();
    s[d] = 0;
    if (d > 0)
        for (const Tensor<T>* p : parts) s[0] = std::max(s[0], p->size(0));
    for (const Tensor<T>* p : parts) {
        EVSAM_CHECK(p->dim() == static_cast<int64_t>(s.size()), "cat: parts of different ranks");
        for (size_t i = 0; i < s.size(); ++i) {
            const int64_t n = p->size(static_cast<int64_t>(i));
            const bool ok =
                i == d || n == (i == 0 ? s[0] : parts[0]->size(static_cast<int64_t>(i))) || (i == 0 && n == 1);
            EVSAM_CHECK(ok,
                        "cat: shapes " + shape_str(parts[0]->shape()) + " and " + shape_str(p->shape()) + " differ");
        }
        s[d] += p->size(dim);
    }
    Tensor<T> r(s, Tensor<T>::uninitialized);
    const int64_t rows = detail::outer(s, d), row = detail::inner(s, d);  // rows of the output along dim
    int64_t offset = 0;
    for (const Tensor<T>* p : parts) {
        const int64_t n = detail::inner(p->shape(), d);
        const bool expand = d > 0 && p->size(0) == 1 && s[0] > 1;
        if (expand)  // the part's one batch entry into every entry, a block of its rows at a time
            for (int64_t q = 0; q < rows / s[0]; ++q)
                batch_copy_forward(r.data() + q * row + offset, p->data() + q * n, s[0], n, rows / s[0] * row, 0, B{});
        else
            batch_copy_forward(r.data() + offset, p->data(), rows, n, row, n, B{});
        offset += n;
    }
    return r;
}

// x.narrow(dim, start, length): x[..., start:start+length, ...] along dim.
template <class B, class T>
Tensor<T> narrow(const Tensor<T>& x, int64_t dim, int64_t start, int64_t length) {
    EVSAM_CHECK(dim >= 0 && dim < x.dim() && start >= 0 && length >= 0 && start + length <= x.size(dim),
                "narrow: [" + std::to_string(start) + ", " + std::to_string(start + length) + ") of dim " +
                    std::to_string(dim) + " of " + shape_str(x.shape()));
    const size_t d = static_cast<size_t>(dim);
    Shape s = x.shape();
    s[d] = length;
    Tensor<T> r(s, Tensor<T>::uninitialized);
    const int64_t row = detail::inner(x.shape(), d + 1);
    batch_copy_forward(r.data(), x.data() + start * row, detail::outer(s, d), length * row, length * row,
                       x.size(dim) * row, B{});
    return r;
}

// x.select(dim, i), i.e. x[:, i] for dim 1: narrow without the dim.
template <class B, class T>
Tensor<T> select(const Tensor<T>& x, int64_t dim, int64_t i) {
    Tensor<T> r = narrow<B>(x, dim, i, 1);
    Shape s = x.shape();
    s.erase(s.begin() + dim);
    r.reshape_(s);
    return r;
}

// torch.stack(parts, dim=1) of parts of one shape (B, ...) -> (B, parts.size(), ...).
template <class B, class T>
Tensor<T> stack1(const std::vector<Tensor<T>>& parts) {
    EVSAM_CHECK(!parts.empty() && parts[0].dim() >= 1, "stack: no parts");
    Shape s = parts[0].shape();
    s.insert(s.begin() + 1, static_cast<int64_t>(parts.size()));
    Tensor<T> r(s, Tensor<T>::uninitialized);
    const int64_t Bn = s[0], n = parts[0].numel() / Bn, K = static_cast<int64_t>(parts.size());
    for (int64_t k = 0; k < K; ++k) {
        EVSAM_CHECK(parts[static_cast<size_t>(k)].shape() == parts[0].shape(), "stack: parts of different shapes");
        batch_copy_forward(r.data() + k * n, parts[static_cast<size_t>(k)].data(), Bn, n, K * n, n, B{});
    }
    return r;
}

// torch.repeat_interleave(x, repeats, dim=0) for a batch of 1: `repeats` copies of it.
template <class B, class T>
Tensor<T> repeat_batch(const Tensor<T>& x, int64_t repeats) {
    EVSAM_CHECK(x.dim() >= 1 && x.size(0) == 1, "repeat_batch: expected a batch of 1, got " + shape_str(x.shape()));
    Shape s = x.shape();
    s[0] = repeats;
    Tensor<T> r(s, Tensor<T>::uninitialized);
    batch_copy_forward(r.data(), x.data(), repeats, x.numel(), x.numel(), 0, B{});
    return r;
}

// v.reshape(1, -1, 1, 1).expand(batch, -1, h, w), materialised: (batch, C, h, w).
template <class B, class T>
Tensor<T> expand_channels(const Tensor<T>& v, int64_t batch, int64_t h, int64_t w) {
    Tensor<T> r({batch, v.numel(), h, w}, Tensor<T>::uninitialized);
    broadcast_channels_forward(r.data(), v.data(), batch, v.numel(), h * w, B{});
    return r;
}

// x.flatten(2).permute(0, 2, 1): (B, C, h, w) -> (B, h*w, C).
template <class B, class T>
Tensor<T> flatten_permute(const Tensor<T>& x) {
    EVSAM_CHECK(x.dim() == 4, "flatten_permute: expected (B, C, h, w), got " + shape_str(x.shape()));
    Tensor<T> r({x.size(0), x.size(2) * x.size(3), x.size(1)}, Tensor<T>::uninitialized);
    nchw_to_npc_forward(r.data(), x.data(), x.size(0), x.size(1), x.size(2) * x.size(3), B{});
    return r;
}

// x.transpose(1, 2).view(B, C, h, w): (B, h*w, C) -> (B, C, h, w).
template <class B, class T>
Tensor<T> transpose_view(const Tensor<T>& x, int64_t h, int64_t w) {
    EVSAM_CHECK(x.dim() == 3 && x.size(1) == h * w,
                "transpose_view: expected (B, " + std::to_string(h * w) + ", C), got " + shape_str(x.shape()));
    Tensor<T> r({x.size(0), x.size(2), h, w}, Tensor<T>::uninitialized);
    npc_to_nchw_forward(r.data(), x.data(), x.size(0), x.size(2), h * w, B{});
    return r;
}

}  // namespace evsam::fn
