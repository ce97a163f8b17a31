from tests.e2e.chores.modules.chores.module import ChoreRequest, ChoreResult, ChoresModule

__all__ = ["ChoreRequest", "ChoreResult", "ChoresModule"]
