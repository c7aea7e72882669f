"""build_info() says what ran: a Release build with OpenMP on and OpenBLAS, portable flags."""

import gatelab as gl


def test_build_info_reports_the_build():
    info = gl.build_info()
    assert info["version"] == gl.__version__
    assert info["build_type"] == "Release"
    assert "-O3" in info["cxx_flags"] or "-O2" in info["cxx_flags"]
    assert "-march=native" not in info["cxx_flags"]  # portable code by default
    assert info["openmp"] == "on" and int(info["threads"]) >= 1
    assert info["blas"] == "OpenBLAS" and "OpenBLAS" in info["blas_config"]
    assert info["blas_threading"] == "openmp"  # runs serially inside gatelab's own parallel loops
    assert info["compiler"]


def test_thread_count_can_be_set(threads):
    gl.set_num_threads(1)
    assert gl.get_num_threads() == 1 and gl.build_info()["threads"] == 1
    gl.set_num_threads(2)
    assert gl.get_num_threads() == 2
