// exp(x) for x <= 0 in plain arithmetic, so that a loop calling it vectorizes (std::exp is a
// library call the vectorizer cannot widen). Softmax needs exactly this case: e^(x - max).
//
//   x = k·ln2 + r, |r| <= ln2/2   (k = round(x / ln2), r by Cody–Waite in two parts)
//   e^x = 2^k · e^r,  e^r by its Taylor series: degree 12 for double (truncation < 2e-16
//   relative), degree 7 for float (< 6e-9)
//
// Rounding uses the 1.5·2^52 (float: 1.5·2^23) trick, whose sum also carries k in its low bits,
// so 2^k is built with integer adds and shifts only (SSE2 has no double→int64 conversion). Inputs
// below the smallest normal result (-708 / -87) give 0, the true value being < 1e-307 / 2e-38
// (negligible beside the max's e^0 = 1); NaN gives NaN. Accuracy: within 2–3 ulp of std::exp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gatelab {

template <class To, class From>
inline To bit_cast_value(From v) {
  To out;
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

// The constants of each precision: the rounding trick, ln 2 split into an exact high part and a
// low part, the clamp below which e^x is taken as 0, and 1/k! of the Taylor series (highest first).
template <class T>
struct ExpConstants;

template <>
struct ExpConstants<double> {
  using Bits = std::uint64_t;
  static constexpr double magic = 0x1.8p52, log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                          ln2_lo = 1.90821492927058770002e-10, lowest = -708.0;
  static constexpr int mantissa = 52, bias = 1023;
  static constexpr double taylor[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                      1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,     1.0 / 120.0,
                                      1.0 / 24.0,        1.0 / 6.0,        0.5,             1.0,
                                      1.0};
};

template <>
struct ExpConstants<float> {
  using Bits = std::uint32_t;
  static constexpr float magic = 0x1.8p23f, log2e = 1.44269504f, ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-06f,
                         lowest = -87.0f;
  static constexpr int mantissa = 23, bias = 127;
  static constexpr float taylor[] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                     1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
};

template <class T>
__attribute__((always_inline)) inline T exp_nonpositive(T x) {
  using C = ExpConstants<T>;
  using Bits = typename C::Bits;
  const T xc = x < C::lowest ? C::lowest : x;       // NaN stays NaN (the comparison is false)
  const T shifted = xc * C::log2e + C::magic;        // k + magic: the addition rounds to an integer
  const T k = shifted - C::magic;
  const T r = (xc - k * C::ln2_hi) - k * C::ln2_lo;  // |r| <= ln2/2
  T p = C::taylor[0];
  for (std::size_t i = 1; i < sizeof(C::taylor) / sizeof(T); ++i) p = p * r + C::taylor[i];
  // shifted's bits are magic's plus k: 2^k has exponent field k + bias.
  const Bits kbits = bit_cast_value<Bits>(shifted) - bit_cast_value<Bits>(C::magic);
  const T scale = bit_cast_value<T>(static_cast<Bits>((kbits + Bits(C::bias)) << C::mantissa));
  const T e = p * scale;
  return x != x ? x : (x < C::lowest ? T(0) : e);
}

}  // namespace gatelab
