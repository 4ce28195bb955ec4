"""One solver family for every ODE in the library, separate from the models' dynamics.

A solver integrates a vector field ``dy/dt = f(y)`` over an elapsed time ``dt``
(:meth:`Solver.integrate`); the model supplies ``f`` with its input held over the step.

- :class:`Euler`, :class:`RK4`: explicit, ``unfolds`` equal steps; any vector field.
- :class:`SemiImplicit`: the LTC's fused update; needs a :class:`ConductanceField`
  (``cm dv/dt = num(v) - den(v) v``), which Euler and RK4 also accept as a plain field.
- :class:`Dopri5`: adaptive, through torchdiffeq (optional dependency).

The LTC takes a solver (``LTC(..., solver=RK4(unfolds=2))``); the ODE baselines name one
(``CTRNN(..., method="rk4")``) and hold an instance of the same classes. See
``docs/maths.md`` (section "Solvers").
"""

from ._adaptive import Dopri5
from ._base import FixedGridSolver, Solver, Time, VectorField
from ._explicit import RK4, Euler
from ._semi_implicit import ConductanceField, SemiImplicit, Terms

#: Every solver class by its name (``"semi_implicit"``, ``"euler"``, ``"rk4"``, ``"dopri5"``),
#: for options given as text (command line, JSON).
SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (SemiImplicit, Euler, RK4, Dopri5)}

__all__ = [
    "RK4",
    "SOLVERS",
    "ConductanceField",
    "Dopri5",
    "Euler",
    "FixedGridSolver",
    "SemiImplicit",
    "Solver",
    "Terms",
    "Time",
    "VectorField",
]
