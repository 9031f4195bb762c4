"""reportgen: postpartum bone-health reports (MgSO4 tocolysis, DXA, PLO)."""

__version__ = "0.1.0"
