"""The solver package: candidates, the flow core, the relatives rule and the stages (layers 4-6).

OR-Tools is imported only inside this package.
"""

from optimizer.solve.engine import Progress, solve

__all__ = ["Progress", "solve"]
