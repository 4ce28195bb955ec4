"""Baseline recurrent models of the LTC and CfC papers, with the liquid layers' sequence API.

Each model is a cell following the cell contract ``(output, state) = cell(x, state, dt)``
and a thin :class:`~liquidtorch.layers.SequenceLayer` subclass, so timespans, padding,
streaming, stacking, bidirectionality and projection work exactly as for LTC and CfC.

- :class:`LSTM`, :class:`GRU`: standard; the elapsed time is an extra input feature.
- :class:`CTRNN`: ``dh/dt = (-h + tanh(W_in x + W_h h + b)) / tau``.
- :class:`NeuralODE`: ``dh/dt = f_theta([x, h])``.
- :class:`ODERNN`: ``dh/dt = f_theta(h)`` between observations, a GRU update at each.
- :class:`CTGRU`: multi-time-scale traces decaying as ``exp(-dt / tau_k)``.
"""

from ._ode import ODEMethod
from .ctgru import CTGRU, CTGRUCell
from .ctrnn import CTRNN, CTRNNCell
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .neural_ode import NeuralODE, NeuralODECell
from .odernn import ODERNN, ODERNNCell

__all__ = [
    "CTGRU",
    "CTRNN",
    "GRU",
    "LSTM",
    "ODERNN",
    "CTGRUCell",
    "CTRNNCell",
    "GRUCell",
    "LSTMCell",
    "NeuralODE",
    "NeuralODECell",
    "ODEMethod",
    "ODERNNCell",
]
