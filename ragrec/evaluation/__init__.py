"""Offline evaluation harness: temporal leave-last-two and random-holdout protocols on MovieLens, full ranking,
baselines, reports.

Plug a method in by implementing `Recommender` (see method.py) and passing it to `runner.run` as a `Candidate`.
"""

from ragrec.evaluation.data import Dataset, load_movielens
from ragrec.evaluation.method import FunctionRecommender, Recommender, ScoringMethod
from ragrec.evaluation.protocol import Interactions, Split, make_split, random_split, temporal_split
from ragrec.evaluation.runner import Candidate, EvalConfig, EvalRun, EvalSuite, MethodResult, evaluate, run

__all__ = [
    "Candidate",
    "Dataset",
    "EvalConfig",
    "EvalRun",
    "EvalSuite",
    "FunctionRecommender",
    "Interactions",
    "MethodResult",
    "Recommender",
    "ScoringMethod",
    "Split",
    "evaluate",
    "load_movielens",
    "make_split",
    "random_split",
    "run",
    "temporal_split",
]
