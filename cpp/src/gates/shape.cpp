#include "gatelab/gates/shape.hpp"

namespace gatelab {

namespace {

std::string wanted_str(const std::vector<long long>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

// ---- shared: no data moves ----------------------------------------------------------------

std::optional<TensorSpec> ViewGate::check(const std::vector<TensorSpec>& in) const {
  expect_inputs(in, 1);
  return TensorSpec{common_float_dtype(in), target(in[0].shape)};
}

// y shares x's storage.
void ViewGate::forward(Tensor& out, const Inputs& in) {
  TensorSpec spec = checked_spec(*this, in);
  out = in[0].reshaped(spec.shape);
}

// dx += dy, element for element (both are C-ordered, so the flat order is the same).
void ViewGate::backward(const InputGrads& din, const Tensor& dout, const Inputs& in, const Tensor& out) {
  if (din[0]) din[0]->add_from(dout);
}

void ViewGate::jvp(Tensor& tangent_out, const Tangents& tangent_in, const Inputs& in, const Tensor& out) {
  if (tangent_in[0]) {
    tangent_out = tangent_in[0]->reshaped(out.shape());
  } else {
    ensure_tensor(tangent_out, out.dtype(), out.shape());
    tangent_out.fill_zero();
  }
}

// ---- reshape ------------------------------------------------------------------------------

ReshapeGate::ReshapeGate(std::vector<long long> shape) : shape_(std::move(shape)) {
  int unknown = 0;
  for (long long d : shape_) {
    if (d == -1) ++unknown;
    else if (d < 0) fail<ValueError>("reshape: ", wanted_str(shape_), " has the negative size ", d,
                                     "; sizes are >= 0, or -1 once for 'whatever fits'");
  }
  if (unknown > 1) fail<ValueError>("reshape: ", wanted_str(shape_), " has more than one -1; only one size can be inferred");
}

std::string ReshapeGate::describe() const { return "reshape(" + wanted_str(shape_) + ")"; }

Shape ReshapeGate::target(const Shape& in) const {
  const std::size_t size = shape_numel(in);
  std::size_t known = 1;
  int unknown_at = -1;
  for (std::size_t i = 0; i < shape_.size(); ++i) {
    if (shape_[i] == -1) unknown_at = static_cast<int>(i);
    else known *= static_cast<std::size_t>(shape_[i]);
  }
  Shape out(shape_.size());
  for (std::size_t i = 0; i < shape_.size(); ++i) out[i] = shape_[i] < 0 ? 0 : static_cast<std::size_t>(shape_[i]);
  if (unknown_at >= 0) {
    if (known == 0 || size % known != 0)
      fail<ValueError>("reshape: cannot reshape ", shape_str(in), " (", size, " elements) into ", wanted_str(shape_),
                       ": the other sizes multiply to ", known, ", which ",
                       known == 0 ? "leaves -1 undetermined" : "does not divide " + std::to_string(size));
    out[unknown_at] = size / known;
  } else if (known != size) {
    fail<ValueError>("reshape: cannot reshape ", shape_str(in), " (", size, " elements) into ", wanted_str(shape_),
                     " (", known, " elements); the sizes must multiply to the same number");
  }
  return out;
}

// ---- flatten ------------------------------------------------------------------------------

Shape FlattenGate::target(const Shape& in) const {
  if (in.empty())
    fail<ValueError>("flatten: x is a scalar (shape ()); flatten keeps the first (batch) dimension N and joins the "
                     "rest into one: (N, d1, ..., dk) -> (N, d1·...·dk)");
  return Shape{in[0], shape_numel(Shape(in.begin() + 1, in.end()))};
}

}  // namespace gatelab
