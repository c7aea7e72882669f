#include "gatelab/gate.hpp"

namespace gatelab {

void Gate::jvp(Tensor&, const Tangents&, const Inputs&, const Tensor&) {
  fail<TypeError>(name(), ": this gate has no forward-mode (jvp) rule");
}

void Gate::expect_inputs(const std::vector<TensorSpec>& inputs, std::size_t n) const {
  if (inputs.size() != n)
    fail<TypeError>(name(), ": takes ", n, " input", n == 1 ? "" : "s", ", got ", inputs.size());
}

DType Gate::common_float_dtype(const std::vector<TensorSpec>& inputs) const {
  if (inputs.empty()) fail<TypeError>(name(), ": needs at least one input");
  DType dtype = inputs[0].dtype;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!is_float(inputs[i].dtype))
      fail<TypeError>(name(), ": input ", i, " is ", dtype_name(inputs[i].dtype),
                      "; gates compute in float64 or float32 (pass x.astype(np.float64))");
    if (inputs[i].dtype != dtype)
      fail<TypeError>(name(), ": inputs mix ", dtype_name(dtype), " and ", dtype_name(inputs[i].dtype),
                      "; gatelab never casts silently, convert one with .astype()");
  }
  return dtype;
}

std::vector<TensorSpec> specs_of(const Inputs& in) {
  std::vector<TensorSpec> specs;
  specs.reserve(in.size());
  for (const auto& t : in) specs.push_back({t.dtype(), t.shape()});
  return specs;
}

TensorSpec checked_spec(const Gate& gate, const Inputs& in) {
  auto spec = gate.check(specs_of(in));
  if (!spec) fail<ValueError>(gate.name(), ": output shape unknown");
  return *spec;
}

}  // namespace gatelab
