// Binary arithmetic gates: add, subtract, multiply, divide, maximum.
// Each rule gives the forward formula and, beside it, the two local derivatives.
// The gate patterns of the lecture are visible here: add distributes the upstream gradient
// (both partials 1), multiply swaps its inputs (∂(ab)/∂a = b), maximum routes it to the larger.
#pragma once

#include "gatelab/gates/elementwise.hpp"

namespace gatelab {

struct AddRule {
  static constexpr const char* kName = "add";
  template <class T> static T f(T a, T b) { return a + b; }
  template <class T> static T da(T, T, T) { return T(1); }
  template <class T> static T db(T, T, T) { return T(1); }
};

struct SubtractRule {
  static constexpr const char* kName = "subtract";
  template <class T> static T f(T a, T b) { return a - b; }
  template <class T> static T da(T, T, T) { return T(1); }
  template <class T> static T db(T, T, T) { return T(-1); }
};

struct MultiplyRule {
  static constexpr const char* kName = "multiply";
  template <class T> static T f(T a, T b) { return a * b; }
  template <class T> static T da(T, T b, T) { return b; }
  template <class T> static T db(T a, T, T) { return a; }
};

struct DivideRule {
  static constexpr const char* kName = "divide";
  template <class T> static T f(T a, T b) { return a / b; }
  template <class T> static T da(T, T b, T) { return T(1) / b; }
  template <class T> static T db(T a, T b, T) { return -a / (b * b); }
};

// NOTE: at a tie the gradient is split in half between a and b, as PyTorch's maximum does.
struct MaximumRule {
  static constexpr const char* kName = "maximum";
  template <class T> static T f(T a, T b) { return a >= b ? a : b; }
  template <class T> static T da(T a, T b, T) { return a > b ? T(1) : (a == b ? T(0.5) : T(0)); }
  template <class T> static T db(T a, T b, T) { return b > a ? T(1) : (a == b ? T(0.5) : T(0)); }
};

using AddGate = BinaryGate<AddRule>;
using SubtractGate = BinaryGate<SubtractRule>;
using MultiplyGate = BinaryGate<MultiplyRule>;
using DivideGate = BinaryGate<DivideRule>;
using MaximumGate = BinaryGate<MaximumRule>;

}  // namespace gatelab
