#include "gatelab/gates/reductions.hpp"

#include <algorithm>

#include "gatelab/broadcast.hpp"
#include "gatelab/parallel.hpp"

namespace gatelab {

template <ReduceKind Kind>
ReduceGate<Kind>::ReduceGate(std::vector<int> axes, bool keepdims) : axes_(std::move(axes)), keepdims_(keepdims) {}

template <ReduceKind Kind>
std::string ReduceGate<Kind>::describe() const {
  if (axes_.empty() && !keepdims_) return name();
  std::string s = name() + "(axis=(";
  for (std::size_t i = 0; i < axes_.size(); ++i) s += (i ? ", " : "") + std::to_string(axes_[i]);
  s += axes_.size() == 1 ? ",)" : ")";
  if (keepdims_) s += ", keepdims=True";
  return s + ")";
}

template <ReduceKind Kind>
std::vector<bool> ReduceGate<Kind>::reduced_axes(std::size_t ndim) const {
  std::vector<bool> reduced(ndim, axes_.empty());
  for (int axis : axes_) {
    int a = axis < 0 ? axis + static_cast<int>(ndim) : axis;
    if (a < 0 || a >= static_cast<int>(ndim))
      fail<ValueError>(name(), ": axis ", axis, " is out of range for an input of rank ", ndim);
    if (reduced[a]) fail<ValueError>(name(), ": axis ", axis, " is listed twice");
    reduced[a] = true;
  }
  return reduced;
}

template <ReduceKind Kind>
Shape ReduceGate<Kind>::kept_shape(const Shape& in) const {
  std::vector<bool> reduced = reduced_axes(in.size());
  Shape kept = in;
  for (std::size_t d = 0; d < in.size(); ++d)
    if (reduced[d]) kept[d] = 1;
  return kept;
}

template <ReduceKind Kind>
std::optional<TensorSpec> ReduceGate<Kind>::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 1);
  DType dtype = common_float_dtype(in);
  if (Kind == ReduceKind::mean && shape_numel(in[0].shape) == 0)
    fail<ValueError>(name(), ": the mean of an empty array ", shape_str(in[0].shape), " is undefined");
  std::vector<bool> reduced = reduced_axes(in[0].shape.size());
  Shape out;
  for (std::size_t d = 0; d < in[0].shape.size(); ++d) {
    if (!reduced[d]) out.push_back(in[0].shape[d]);
    else if (keepdims_) out.push_back(1);
  }
  return TensorSpec{dtype, out};
}

// y[j] = scale * Σ x[i] over the i that map to j, in increasing i.
template <ReduceKind Kind>
template <class T>
void ReduceGate<Kind>::reduce(T* y, const T* x, const Shape& in_shape, std::size_t out_size) const {
  const std::size_t n = shape_numel(in_shape);
  const double scale = Kind == ReduceKind::mean && out_size ? double(out_size) / double(n) : 1.0;
  if (out_size == 1) {
    // Everything into one value: fixed-size blocks summed in parallel, then in order.
    const std::size_t block = kParallelGrain;
    const std::size_t blocks = (n + block - 1) / block;
    std::vector<double> partial(blocks, 0.0);
    parallel_for(blocks, [&](std::size_t k) {
      double s = 0.0;
      for (std::size_t i = k * block, e = std::min(n, (k + 1) * block); i < e; ++i) s += x[i];
      partial[k] = s;
    }, block);
    double total = 0.0;
    for (double s : partial) total += s;
    y[0] = static_cast<T>(total * scale);
    return;
  }
  std::vector<double> acc(out_size, 0.0);
  BroadcastPlan plan = broadcast_plan(name().c_str(), kept_shape(in_shape), in_shape);
  for_each_broadcast(plan, true, [&](std::size_t i, std::size_t j, std::size_t) { acc[j] += x[i]; });
  for (std::size_t j = 0; j < out_size; ++j) y[j] = static_cast<T>(acc[j] * scale);
}

template <ReduceKind Kind>
void ReduceGate<Kind>::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  ensure_tensor(out, spec.dtype, spec.shape);
  dispatch_float(spec.dtype, name(), [&](auto tag) {
    using T = decltype(tag);
    reduce(out.data<T>(), in[0].data<T>(), in[0].shape(), out.size());
  });
}

// dx[i] += scale * dy[j(i)]: every input element receives its output's gradient.
template <ReduceKind Kind>
void ReduceGate<Kind>::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (!din[0]) return;
  const std::size_t n = in[0].size();
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T scale = Kind == ReduceKind::mean && n ? T(double(out.size()) / double(n)) : T(1);
    const T* dy = dout.data<T>();
    T* dx = din[0]->data<T>();
    BroadcastPlan plan = broadcast_plan(name().c_str(), kept_shape(in[0].shape()), in[0].shape());
    for_each_broadcast(plan, false, [&](std::size_t i, std::size_t j, std::size_t) { dx[i] += scale * dy[j]; });
  });
}

// ẏ is the same reduction of ẋ (sum and mean are linear).
template <ReduceKind Kind>
void ReduceGate<Kind>::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  ensure_tensor(tangent_out, out.dtype(), out.shape());
  if (!tangent_in[0]) return tangent_out.fill_zero();
  dispatch_float(out.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    reduce(tangent_out.data<T>(), tangent_in[0]->data<T>(), in[0].shape(), out.size());
  });
}

template class ReduceGate<ReduceKind::sum>;
template class ReduceGate<ReduceKind::mean>;

}  // namespace gatelab
