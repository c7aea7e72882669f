// Unary math gates: negate, power (constant exponent), exp, log, reciprocal, sin, cos.
// Each rule: the forward formula f(x) and, beside it, the local derivative df(x, y) with y = f(x).
#pragma once

#include <cmath>

#include "gatelab/gates/elementwise.hpp"

namespace gatelab {

struct NegateRule : PlainRule {
  static constexpr const char* kName = "negate";
  static constexpr std::size_t kCost = 1;
  template <class T> T f(T x) const { return -x; }
  template <class T> T df(T, T) const { return T(-1); }
};

// y = x^p for a constant p; dy/dx = p x^(p-1) (and 0 for p = 0, where x^-1 would give 0 * inf).
struct PowerRule {
  static constexpr const char* kName = "power";
  static constexpr std::size_t kCost = 20;
  double p = 2.0;
  std::string params() const { return param_str("p", p); }
  template <class T> T f(T x) const { return std::pow(x, T(p)); }
  template <class T> T df(T x, T) const { return p == 0.0 ? T(0) : T(p) * std::pow(x, T(p - 1.0)); }
};

struct ExpRule : PlainRule {
  static constexpr const char* kName = "exp";
  static constexpr std::size_t kCost = 10;
  template <class T> T f(T x) const { return std::exp(x); }
  template <class T> T df(T, T y) const { return y; }  // d e^x / dx = e^x, already computed
};

// NOTE: log of a negative number is NaN and of 0 is -inf, as in NumPy and PyTorch.
struct LogRule : PlainRule {
  static constexpr const char* kName = "log";
  static constexpr std::size_t kCost = 10;
  template <class T> T f(T x) const { return std::log(x); }
  template <class T> T df(T x, T) const { return T(1) / x; }
};

struct ReciprocalRule : PlainRule {
  static constexpr const char* kName = "reciprocal";
  static constexpr std::size_t kCost = 2;
  template <class T> T f(T x) const { return T(1) / x; }
  template <class T> T df(T, T y) const { return -y * y; }  // d(1/x)/dx = -1/x^2
};

struct SinRule : PlainRule {
  static constexpr const char* kName = "sin";
  static constexpr std::size_t kCost = 10;
  template <class T> T f(T x) const { return std::sin(x); }
  template <class T> T df(T x, T) const { return std::cos(x); }
};

struct CosRule : PlainRule {
  static constexpr const char* kName = "cos";
  static constexpr std::size_t kCost = 10;
  template <class T> T f(T x) const { return std::cos(x); }
  template <class T> T df(T x, T) const { return -std::sin(x); }
};

using NegateGate = UnaryGate<NegateRule>;
using PowerGate = UnaryGate<PowerRule>;
using ExpGate = UnaryGate<ExpRule>;
using LogGate = UnaryGate<LogRule>;
using ReciprocalGate = UnaryGate<ReciprocalRule>;
using SinGate = UnaryGate<SinRule>;
using CosGate = UnaryGate<CosRule>;

}  // namespace gatelab
