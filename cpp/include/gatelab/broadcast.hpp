// NumPy broadcasting for two operands: shapes align at the right, a dimension of 1 (or a
// missing one) stretches to match. A plan maps every output index to an index in each input.
//
// In backward a broadcast input receives the sum of the gradients of all outputs it reached,
// so its accumulation visits outputs serially, in order (deterministic at any thread count).
#pragma once

#include <array>

#include "gatelab/parallel.hpp"
#include "gatelab/tensor.hpp"

namespace gatelab {

inline constexpr std::size_t kMaxBroadcastRank = 8;

struct BroadcastPlan {
  Shape out_shape;
  std::size_t out_size = 0;
  bool a_full = false, b_full = false;      // operand has the output's shape (no stretching)
  bool a_scalar = false, b_scalar = false;  // operand has one element
  std::size_t rank = 0;
  std::array<std::size_t, kMaxBroadcastRank> dims{};       // output dims
  std::array<std::size_t, kMaxBroadcastRank> a_strides{};  // element strides, 0 where stretched
  std::array<std::size_t, kMaxBroadcastRank> b_strides{};
};

// Throws ValueError naming `who` when the shapes do not broadcast.
BroadcastPlan broadcast_plan(const char* who, const Shape& a, const Shape& b);
Shape broadcast_shape(const char* who, const Shape& a, const Shape& b);

// f(i, ia, ib) for every output index i with the matching input indices. Parallel when both
// operands are full or one is a scalar (independent writes to out[i]); `serial` forces order.
template <class F>
void for_each_broadcast(const BroadcastPlan& p, bool serial, F&& f) {
  const std::size_t n = p.out_size;
  if (p.a_full && p.b_full) {
    if (serial) for (std::size_t i = 0; i < n; ++i) f(i, i, i);
    else parallel_for(n, [&](std::size_t i) { f(i, i, i); });
    return;
  }
  if ((p.a_full || p.a_scalar) && (p.b_full || p.b_scalar)) {
    auto index = [&](std::size_t i) { f(i, p.a_scalar ? 0 : i, p.b_scalar ? 0 : i); };
    if (serial) for (std::size_t i = 0; i < n; ++i) index(i);
    else parallel_for(n, index);
    return;
  }
  // General case: walk the output with an odometer over its dimensions.
  std::array<std::size_t, kMaxBroadcastRank> idx{};
  std::size_t ia = 0, ib = 0;
  for (std::size_t i = 0; i < n; ++i) {
    f(i, ia, ib);
    for (std::size_t d = p.rank; d-- > 0;) {
      ++idx[d];
      ia += p.a_strides[d];
      ib += p.b_strides[d];
      if (idx[d] < p.dims[d]) break;
      ia -= p.a_strides[d] * p.dims[d];
      ib -= p.b_strides[d] * p.dims[d];
      idx[d] = 0;
    }
  }
}

}  // namespace gatelab
