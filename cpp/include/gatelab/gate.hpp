// Gate: one node's computation, with its forward pass and its backward pass side by side.
//
// A gate sees its inputs and its output; anything else backward needs from forward (im2col
// columns, max-pool argmax, softmax probabilities) it saves in a member with that name and lists
// in saved(). backward() accumulates (+=) into the input gradients it is handed: the graph zeroes
// them explicitly, so a node used twice sums the gradients of both uses, as the chain rule wants.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gatelab/tensor.hpp"

namespace gatelab {

// What a gate's output will be: known from input dtypes and shapes alone, before any values.
struct TensorSpec {
  DType dtype = DType::float64;
  Shape shape;
};

// A gate's input values: a view of tensors owned by the graph (or the caller), so running a
// gate copies no tensor handles. in[i] is a const Tensor&.
class Inputs {
 public:
  Inputs() = default;
  explicit Inputs(const std::vector<Tensor>& tensors) {
    for (const Tensor& t : tensors) push_back(t);
  }
  void push_back(const Tensor& t) { items_.push_back(&t); }
  void push_back(Tensor&&) = delete;  // a view must not point at a temporary
  void clear() { items_.clear(); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const Tensor& operator[](std::size_t i) const { return *items_[i]; }

  class const_iterator {
   public:
    explicit const_iterator(const Tensor* const* p) : p_(p) {}
    const Tensor& operator*() const { return **p_; }
    const_iterator& operator++() {
      ++p_;
      return *this;
    }
    bool operator!=(const const_iterator& o) const { return p_ != o.p_; }

   private:
    const Tensor* const* p_;
  };
  const_iterator begin() const { return const_iterator(items_.data()); }
  const_iterator end() const { return const_iterator(items_.data() + items_.size()); }

 private:
  std::vector<const Tensor*> items_;
};

using InputGrads = std::vector<Tensor*>;   // gradient buffers to accumulate into; nullptr = not needed
using Tangents = std::vector<const Tensor*>;  // forward-mode tangents; nullptr = zero tangent

class Gate {
 public:
  virtual ~Gate() = default;

  // Short op name used in messages, tables and drawings: "multiply", "conv2d".
  virtual std::string name() const = 0;
  // The name with hyper-parameters, e.g. "power(p=3)", "conv2d(stride=2, padding=1)".
  virtual std::string describe() const { return name(); }
  // Number of inputs, or -1 when any number is allowed.
  virtual int arity() const = 0;
  // Inputs that never get a gradient (integer labels, say).
  virtual bool differentiable(std::size_t input) const {
    (void)input;
    return true;
  }

  // Validates input dtypes and shapes and returns the output's, throwing ValueError/TypeError
  // with the gate's name and the fix. std::nullopt: unknown until forward runs (Python gates).
  virtual std::optional<TensorSpec> check(const std::vector<TensorSpec>& inputs) const = 0;

  // out = f(inputs). `out` holds the previous output, whose storage may be reused.
  virtual void forward(Tensor& out, const Inputs& in) = 0;
  // din[i] += dout · ∂out/∂in[i] for each din[i] that is not null.
  virtual void backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) = 0;
  // Forward mode: tangent_out = Σ_i ∂out/∂in[i] · tangent_in[i] (a Jacobian-vector product).
  virtual void jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out);

  // False for gates that call back into Python (they need the GIL, so they run on one thread).
  virtual bool native() const { return true; }
  // A fresh gate with the same hyper-parameters and no saved state (per-thread graphs).
  virtual std::unique_ptr<Gate> clone() const = 0;
  // The named state forward saved for backward, for inspection.
  virtual std::vector<std::pair<std::string, Tensor>> saved() const { return {}; }

  // A gate instance belongs to at most one graph node: its saved state is that node's.
  bool attached() const { return attached_; }
  void set_attached(bool a) { attached_ = a; }

  // Used standalone ("flat" style: out = gate.forward(a, b); da, db = gate.backward(dout)), a
  // gate keeps the inputs and output of its last forward call here for the backward call.
  struct FlatCall {
    std::vector<Tensor> inputs;
    Tensor out;
  };
  FlatCall& flat_call() { return flat_call_; }

 protected:
  // Throws unless there are `n` inputs (arity check shared by every gate).
  void expect_inputs(const std::vector<TensorSpec>& inputs, std::size_t n) const;
  // Throws unless every input has the same floating dtype; returns it.
  DType common_float_dtype(const std::vector<TensorSpec>& inputs) const;

 private:
  bool attached_ = false;
  FlatCall flat_call_;
};

std::vector<TensorSpec> specs_of(const Inputs& in);

// The checked output spec of a gate for concrete inputs (forward's first step).
TensorSpec checked_spec(const Gate& gate, const Inputs& in);

}  // namespace gatelab
