// Reduction gates: sum and mean over all elements or over chosen axes.
//
//   y = Σ x over the reduced axes            dy/dx = 1      (the upstream gradient is copied back)
//   y = (1/count) Σ x over the reduced axes  dy/dx = 1/count
//
// Sums accumulate in double and in a fixed order, so results do not depend on the thread count.
#pragma once

#include "gatelab/gate.hpp"

namespace gatelab {

enum class ReduceKind { sum, mean };

template <ReduceKind Kind>
class ReduceGate final : public Gate {
 public:
  // axes empty: reduce everything. Negative axes count from the end, as in NumPy.
  explicit ReduceGate(std::vector<int> axes = {}, bool keepdims = false);

  std::string name() const override { return Kind == ReduceKind::sum ? "sum" : "mean"; }
  std::string describe() const override;
  int arity() const override { return 1; }
  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override;

  void forward(Tensor& out, const Inputs& in) override;
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override;
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override;

  std::unique_ptr<Gate> clone() const override { return std::make_unique<ReduceGate>(axes_, keepdims_); }

  const std::vector<int>& axes() const { return axes_; }
  bool keepdims() const { return keepdims_; }

 private:
  std::vector<bool> reduced_axes(std::size_t ndim) const;  // which axes are summed over
  Shape kept_shape(const Shape& in) const;                 // output shape with reduced axes as 1
  template <class T>
  void reduce(T* y, const T* x, const Shape& in_shape, std::size_t out_size) const;

  std::vector<int> axes_;
  bool keepdims_;
};

using SumGate = ReduceGate<ReduceKind::sum>;
using MeanGate = ReduceGate<ReduceKind::mean>;

}  // namespace gatelab
