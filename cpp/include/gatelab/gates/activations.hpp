// Activation gates: sigmoid, tanh, relu, leaky_relu, elu, softplus.
// Each rule: the forward formula f(x) and, beside it, the local derivative df(x, y) with y = f(x).
// Kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = slope.
#pragma once

#include <cmath>

#include "gatelab/gates/elementwise.hpp"

namespace gatelab {

// σ(x) = 1 / (1 + e^-x), evaluated without overflow for large |x|; σ' = σ (1 - σ).
struct SigmoidRule : PlainRule {
  static constexpr const char* kName = "sigmoid";
  static constexpr std::size_t kCost = 12;
  template <class T> T f(T x) const {
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <class T> T df(T, T y) const { return y * (T(1) - y); }
};

struct TanhRule : PlainRule {
  static constexpr const char* kName = "tanh";
  static constexpr std::size_t kCost = 12;
  template <class T> T f(T x) const { return std::tanh(x); }
  template <class T> T df(T, T y) const { return T(1) - y * y; }
};

struct ReluRule : PlainRule {
  static constexpr const char* kName = "relu";
  static constexpr std::size_t kCost = 1;
  // NOTE: NaN propagates (x > 0 is false for NaN, so max(x, 0) would hide it).
  template <class T> T f(T x) const { return x > 0 || std::isnan(x) ? x : T(0); }
  template <class T> T df(T x, T) const { return x > 0 ? T(1) : T(0); }
};

struct LeakyReluRule {
  static constexpr const char* kName = "leaky_relu";
  static constexpr std::size_t kCost = 1;
  double slope = 0.01;
  std::string params() const { return param_str("slope", slope); }
  template <class T> T f(T x) const { return x > 0 ? x : T(slope) * x; }
  template <class T> T df(T x, T) const { return x > 0 ? T(1) : T(slope); }
};

// elu(x) = x for x > 0, alpha (e^x - 1) otherwise; its slope there is alpha e^x = y + alpha.
struct EluRule {
  static constexpr const char* kName = "elu";
  static constexpr std::size_t kCost = 10;
  double alpha = 1.0;
  std::string params() const { return param_str("alpha", alpha); }
  template <class T> T f(T x) const { return x > 0 ? x : T(alpha) * std::expm1(x); }
  template <class T> T df(T x, T y) const { return x > 0 ? T(1) : y + T(alpha); }
};

// softplus(x) = log(1 + e^(beta x)) / beta, linear above `threshold` (as PyTorch) to avoid
// overflow; its slope is σ(beta x).
struct SoftplusRule {
  static constexpr const char* kName = "softplus";
  static constexpr std::size_t kCost = 20;
  double beta = 1.0;
  double threshold = 20.0;
  std::string params() const { return param_str("beta", beta) + ", " + param_str("threshold", threshold); }
  template <class T> T f(T x) const {
    T bx = T(beta) * x;
    return bx > T(threshold) ? x : std::log1p(std::exp(bx)) / T(beta);
  }
  template <class T> T df(T x, T) const {
    T bx = T(beta) * x;
    if (bx > T(threshold)) return T(1);
    T z = std::exp(bx);
    return z / (z + T(1));
  }
};

using SigmoidGate = UnaryGate<SigmoidRule>;
using TanhGate = UnaryGate<TanhRule>;
using ReluGate = UnaryGate<ReluRule>;
using LeakyReluGate = UnaryGate<LeakyReluRule>;
using EluGate = UnaryGate<EluRule>;
using SoftplusGate = UnaryGate<SoftplusRule>;

}  // namespace gatelab
