// The latch: computations switched off, for good, in one process (the autograder's worker).
//
// A test that grades a student's convolution must not let the student call gatelab's. Wrapping
// Python names is not enough (an alias, a parameter setting or a second copy of the library gets
// round it), so the latch works by what a gate computes and lives in the kernel: latch_off()
// installs a seccomp filter that answers a private prctl() query with the latched set. A filter
// can never be removed or loosened, it holds for every thread, for every copy of this library and
// across fork and exec, and the same filter refuses what could escape it: starting programs or
// processes, tracing other processes, new sockets, further seccomp filters.
//
// What each computation covers (latch.cpp) names every gate able to compute it under another
// name or a parameter setting: latching "reciprocal" also stops divide(1, x) and power(x, -1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gatelab {

class Gate;

enum class Computation : unsigned {
  multiply,
  reciprocal,
  sigmoid,
  maximum,
  mean,
  affine,
  relu,
  softmax,
  svm_loss,
  conv,
  max_pool,
  graph,               // any ComputationalGraph pass: an autodiff engine computes every gradient
  numerical_gradient,  // the finite-difference engines (gradcheck, Jacobians, numerical_gradient)
  count
};

std::string computation_name(Computation c);
// Throws ValueError for a name that is not a computation (the message lists them).
Computation computation_from_name(const std::string& name);
std::vector<std::string> computation_names();
// The gates (by name()) that can compute `c`.
std::vector<std::string> gates_computing(Computation c);

// The set latched off in this process, as a snapshot (one system call).
class Latch {
 public:
  static Latch current();
  bool empty() const { return mask_ == 0; }
  bool has(Computation c) const { return mask_ & bit(c); }
  std::vector<Computation> computations() const;
  // Throw LatchedError when `gate` (a native gate) computes something latched off.
  void require(const Gate& gate) const;
  void require(Computation c, const std::string& who) const;

  static std::uint32_t bit(Computation c) { return std::uint32_t(1) << static_cast<unsigned>(c); }

 private:
  explicit Latch(std::uint32_t mask) : mask_(mask) {}
  std::uint32_t mask_;
};

// Latches `computations` off in this process and installs the filter described above. Once only:
// a second call throws LatchedError. Throws LatchedError where seccomp is unavailable.
void latch_off(const std::vector<Computation>& computations);
// Whether latch_off can work here (Linux on x86-64 or aarch64).
bool latch_supported();

}  // namespace gatelab
