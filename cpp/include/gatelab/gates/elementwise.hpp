// The machinery shared by element-wise gates. A gate family file supplies a small "rule" per
// gate: its forward formula f and its local derivative right beside it; UnaryGate and
// BinaryGate turn a rule into forward, backward (chain rule) and jvp (forward mode).
//
//   unary rule:  y = f(x),     dy/dx = df(x, y)
//   binary rule: y = f(a, b),  ∂y/∂a = da(a, b, y),  ∂y/∂b = db(a, b, y)
//
// Binary gates broadcast like NumPy; a stretched operand's gradient sums over the outputs it
// reached.
#pragma once

#include <sstream>

#include "gatelab/broadcast.hpp"
#include "gatelab/gate.hpp"
#include "gatelab/parallel.hpp"

namespace gatelab {

// Rules with no hyper-parameters describe themselves by name alone.
struct PlainRule {
  std::string params() const { return ""; }
};

template <class Rule>
class UnaryGate final : public Gate {
 public:
  explicit UnaryGate(Rule rule = {}) : rule_(rule) {}
  const Rule& rule() const { return rule_; }

  std::string name() const override { return Rule::kName; }
  std::string describe() const override {
    std::string p = rule_.params();
    return p.empty() ? name() : name() + "(" + p + ")";
  }
  int arity() const override { return 1; }

  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override {
    expect_inputs(in, 1);
    return TensorSpec{common_float_dtype(in), in[0].shape};
  }

  // x is any shape; y has the same shape.
  void forward(Tensor& out, const Inputs& in) override {
    if (in.size() != 1 || !is_float(in[0].dtype())) checked_spec(*this, in);  // throws the clear message
    ensure_tensor(out, in[0].dtype(), in[0].shape());
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in[0].data<T>();
      T* y = out.data<T>();
      parallel_for(out.size(), [&](std::size_t i) { y[i] = rule_.f(x[i]); }, Rule::kCost);
    });
  }

  // dx += dy * f'(x)
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override {
    if (!din[0]) return;
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in[0].data<T>();
      const T* y = out.data<T>();
      const T* dy = dout.data<T>();
      T* dx = din[0]->data<T>();
      parallel_for(out.size(), [&](std::size_t i) { dx[i] += dy[i] * rule_.df(x[i], y[i]); }, Rule::kCost);
    });
  }

  // ẏ = f'(x) ẋ
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override {
    ensure_tensor(tangent_out, out.dtype(), out.shape());
    if (!tangent_in[0]) return tangent_out.fill_zero();
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in[0].data<T>();
      const T* y = out.data<T>();
      const T* dx = tangent_in[0]->data<T>();
      T* dy = tangent_out.data<T>();
      parallel_for(out.size(), [&](std::size_t i) { dy[i] = rule_.df(x[i], y[i]) * dx[i]; }, Rule::kCost);
    });
  }

  std::unique_ptr<Gate> clone() const override { return std::make_unique<UnaryGate>(rule_); }

 private:
  Rule rule_;
};

template <class Rule>
class BinaryGate final : public Gate {
 public:
  std::string name() const override { return Rule::kName; }
  int arity() const override { return 2; }

  std::optional<TensorSpec> check(const std::vector<TensorSpec>& in) const override {
    expect_inputs(in, 2);
    DType dtype = common_float_dtype(in);
    return TensorSpec{dtype, broadcast_shape(Rule::kName, in[0].shape, in[1].shape)};
  }

  // a and b broadcast to y's shape.
  void forward(Tensor& out, const Inputs& in) override {
    if (in.size() != 2 || in[0].dtype() != in[1].dtype() || !is_float(in[0].dtype()))
      checked_spec(*this, in);  // throws the clear message
    if (in[0].shape() != in[1].shape()) return forward_broadcast(out, in);
    ensure_tensor(out, in[0].dtype(), in[0].shape());  // the common case needs no plan
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      T* y = out.data<T>();
      parallel_for(out.size(), [&](std::size_t i) { y[i] = Rule::f(a[i], b[i]); });
    });
  }

  // da += dy * ∂y/∂a, db += dy * ∂y/∂b; a stretched operand sums over the outputs it reached.
  void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) override {
    if (in[0].shape() != in[1].shape()) return backward_broadcast(din, dout, in, out);
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      const T* y = out.data<T>();
      const T* dy = dout.data<T>();
      T* da = din[0] ? din[0]->data<T>() : nullptr;
      T* db = din[1] ? din[1]->data<T>() : nullptr;
      parallel_for(out.size(), [&](std::size_t i) {
        if (da) da[i] += dy[i] * Rule::da(a[i], b[i], y[i]);
        if (db) db[i] += dy[i] * Rule::db(a[i], b[i], y[i]);
      });
    });
  }

  // ẏ = ∂y/∂a ȧ + ∂y/∂b ḃ
  void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) override {
    BroadcastPlan plan = broadcast_plan(Rule::kName, in[0].shape(), in[1].shape());
    ensure_tensor(tangent_out, out.dtype(), out.shape());
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      const T* y = out.data<T>();
      const T* ta = tangent_in[0] ? tangent_in[0]->template data<T>() : nullptr;
      const T* tb = tangent_in[1] ? tangent_in[1]->template data<T>() : nullptr;
      T* ty = tangent_out.data<T>();
      for_each_broadcast(plan, false, [&](std::size_t i, std::size_t ia, std::size_t ib) {
        T t = 0;
        if (ta) t += Rule::da(a[ia], b[ib], y[i]) * ta[ia];
        if (tb) t += Rule::db(a[ia], b[ib], y[i]) * tb[ib];
        ty[i] = t;
      });
    });
  }

  std::unique_ptr<Gate> clone() const override { return std::make_unique<BinaryGate>(); }

 private:
  // Operands of different shapes: a plan maps each output index to the inputs' indices.
  void forward_broadcast(Tensor& out, const Inputs& in) {
    BroadcastPlan plan = broadcast_plan(Rule::kName, in[0].shape(), in[1].shape());
    ensure_tensor(out, in[0].dtype(), plan.out_shape);
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      T* y = out.data<T>();
      for_each_broadcast(plan, false, [&](std::size_t i, std::size_t ia, std::size_t ib) {
        y[i] = Rule::f(a[ia], b[ib]);
      });
    });
  }

  void backward_broadcast(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
    BroadcastPlan plan = broadcast_plan(Rule::kName, in[0].shape(), in[1].shape());
    dispatch_float(out.dtype(), Rule::kName, [&](auto tag) {
      using T = decltype(tag);
      const T* a = in[0].data<T>();
      const T* b = in[1].data<T>();
      const T* y = out.data<T>();
      const T* dy = dout.data<T>();
      if (din[0]) {
        T* da = din[0]->data<T>();
        for_each_broadcast(plan, !plan.a_full, [&](std::size_t i, std::size_t ia, std::size_t ib) {
          da[ia] += dy[i] * Rule::da(a[ia], b[ib], y[i]);
        });
      }
      if (din[1]) {
        T* db = din[1]->data<T>();
        for_each_broadcast(plan, !plan.b_full, [&](std::size_t i, std::size_t ia, std::size_t ib) {
          db[ib] += dy[i] * Rule::db(a[ia], b[ib], y[i]);
        });
      }
    });
  }
};

// Formats a hyper-parameter for describe(): "p=3".
template <class V>
std::string param_str(const char* key, V value) {
  std::ostringstream s;
  s << key << "=" << value;
  return s.str();
}

}  // namespace gatelab
