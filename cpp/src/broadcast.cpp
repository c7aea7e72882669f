#include "gatelab/broadcast.hpp"

namespace gatelab {

BroadcastPlan broadcast_plan(const char* who, const Shape& a, const Shape& b) {
  BroadcastPlan p;
  p.rank = std::max(a.size(), b.size());
  if (p.rank > kMaxBroadcastRank)
    fail<ValueError>(who, ": arrays of rank ", p.rank, " exceed the supported rank ", kMaxBroadcastRank);
  p.out_shape.assign(p.rank, 1);
  // Walk from the right; a missing dimension behaves as 1.
  std::size_t a_stride = 1, b_stride = 1;
  for (std::size_t k = 0; k < p.rank; ++k) {
    std::size_t d = p.rank - 1 - k;
    std::size_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    std::size_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1)
      fail<ValueError>(who, ": shapes ", shape_str(a), " and ", shape_str(b),
                       " do not broadcast (dimension ", d, " is ", da, " vs ", db,
                       "; sizes must match or one of them be 1)");
    std::size_t dout = std::max(da, db);
    if (da == 0 || db == 0) dout = 0;
    p.out_shape[d] = dout;
    p.dims[d] = dout;
    p.a_strides[d] = (da == 1 && dout != 1) ? 0 : a_stride;
    p.b_strides[d] = (db == 1 && dout != 1) ? 0 : b_stride;
    a_stride *= da;
    b_stride *= db;
  }
  p.out_size = shape_numel(p.out_shape);
  p.a_scalar = shape_numel(a) == 1;
  p.b_scalar = shape_numel(b) == 1;
  p.a_full = shape_numel(a) == p.out_size;
  p.b_full = shape_numel(b) == p.out_size;
  return p;
}

Shape broadcast_shape(const char* who, const Shape& a, const Shape& b) {
  return broadcast_plan(who, a, b).out_shape;
}

}  // namespace gatelab
