"""Hyperparameter search over the model families: settings, space, trials, study and refit."""

from binclf.train.search.run import search_model
from binclf.train.search.settings import SearchError, SearchResult, SearchSettings
from binclf.train.search.study import study_name

__all__ = ["SearchError", "SearchResult", "SearchSettings", "search_model", "study_name"]
