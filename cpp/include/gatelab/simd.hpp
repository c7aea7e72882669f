// GATELAB_VECTORIZE: compile a hot kernel for several x86-64 levels and pick one at load time.
//
// Wheels are built for baseline x86-64 (SSE2), where GCC's auto-vectorizer gets 2 doubles or
// 4 floats per instruction. A kernel marked GATELAB_VECTORIZE is also compiled for x86-64-v3
// (AVX2, 4 doubles) and x86-64-v4 (AVX-512, 8 doubles); the dynamic loader picks the best one
// the CPU runs (GCC's target_clones, resolved once through an ifunc). The clones compute
// bitwise the same results: the build passes -ffp-contract=off (GCC would otherwise fuse
// a·b + c into one FMA in the AVX2 clones only), and no clone reorders a sum (no -ffast-math;
// sums that should vectorize keep a fixed number of lanes in the source).
//
// The marked loops also stay loops: GCC would otherwise turn a copy or fill loop into a call of
// memcpy/memset, which for the short rows these kernels copy (16 elements, say) costs more
// than the copy itself.
//
// Mark functions whose loops are plain element-wise loops over raw pointers, and put the
// attribute on the function that holds the loops (lambdas and callees keep the default target
// unless inlined). Elsewhere (other compilers or CPUs, or a -march=native build, which already
// targets this CPU) the macro is empty.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__) && \
    !defined(GATELAB_NATIVE_BUILD)
#define GATELAB_VECTORIZE                                                       \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4"), \
                 optimize("no-tree-loop-distribute-patterns")))
#elif defined(__GNUC__) && !defined(__clang__)
#define GATELAB_VECTORIZE __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define GATELAB_VECTORIZE
#endif
