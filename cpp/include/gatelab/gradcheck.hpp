// The numerical-gradient engine: finite differences on a graph, parallel across OpenMP threads.
//
// Central differences perturb one element of one leaf at a time: (f(x + eps e_j) - f(x - eps e_j))
// / 2 eps. Every perturbation is independent, so each thread runs its own clone of the graph
// (cloned gates: their saved state is per thread) and columns are written to fixed places:
// the result is the same whatever the thread count. Graphs holding Python gates run on one
// thread (they need the GIL).
#pragma once

#include <vector>

#include "gatelab/graph.hpp"

namespace gatelab {

// Analytic and numeric derivatives of a graph output with respect to one leaf, in float64.
struct LeafCheck {
  NodeId leaf = 0;
  Tensor analytic;
  Tensor numeric;
};

// Jacobian mode: for each leaf in `wrt`, (output size, leaf size) matrices; analytic row k is
// the backward pass seeded with the unit vector e_k, numeric column j the central difference.
std::vector<LeafCheck> check_jacobians(const ComputationalGraph& graph, NodeId output,
                                       const std::vector<NodeId>& wrt, double eps);

// Vector-Jacobian mode (CS231n's eval_numerical_gradient_array): for each leaf, arrays shaped
// like it holding Σ dout · d output / d leaf — one backward pass seeded with dout, and the
// central differences of Σ dout · output.
std::vector<LeafCheck> check_vjp(const ComputationalGraph& graph, NodeId output, const std::vector<NodeId>& wrt,
                                 const Tensor& dout, double eps);

}  // namespace gatelab
