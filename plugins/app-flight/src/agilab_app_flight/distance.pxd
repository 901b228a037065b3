# Cython types for distance.py (pure-Python mode). Used by `--cython` builds only.
cimport cython
from libc cimport math

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, to_rad=double, scale=double, phi0=double, lam0=double, phi=double, lam=double, s1=double, s2=double, a=double)
cpdef void steps_m(const double[:] lat, const double[:] lon, double[:] out)
