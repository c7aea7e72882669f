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

#include <cstdint>
#include <cstring>

namespace gatelab {

template <class To, class From>
inline To bit_cast_value(From v) {
  To out;
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

__attribute__((always_inline)) inline double exp_nonpositive(double x) {
  const double magic = 0x1.8p52;                                  // 1.5·2^52: adding it rounds to an integer
  const double xc = x < -708.0 ? -708.0 : x;                      // NaN stays NaN (the comparison is false)
  const double shifted = xc * 1.4426950408889634 + magic;         // k + magic
  const double k = shifted - magic;
  const double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;  // ln2 = hi + lo
  double p = 1.0 / 479001600.0;                                   // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // shifted's bits are magic's plus k: 2^k has exponent field k + 1023.
  const std::uint64_t kbits = bit_cast_value<std::uint64_t>(shifted) - bit_cast_value<std::uint64_t>(magic);
  const double scale = bit_cast_value<double>((kbits + 1023u) << 52);
  const double e = p * scale;
  return x != x ? x : (x < -708.0 ? 0.0 : e);
}

__attribute__((always_inline)) inline float exp_nonpositive(float x) {
  const float magic = 0x1.8p23f;
  const float xc = x < -87.0f ? -87.0f : x;
  const float shifted = xc * 1.44269504f + magic;
  const float k = shifted - magic;
  const float r = (xc - k * 0.693145752f) - k * 1.42860677e-06f;  // ln2 = hi (exact in float) + lo
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::uint32_t kbits = bit_cast_value<std::uint32_t>(shifted) - bit_cast_value<std::uint32_t>(magic);
  const float scale = bit_cast_value<float>((kbits + 127u) << 23);
  const float e = p * scale;
  return x != x ? x : (x < -87.0f ? 0.0f : e);
}

}  // namespace gatelab
