"""The classic walkthrough's title search and recommendation recipe, kept as the reference.

The recipe re-filters every rating for each query, which is simple to read and slow at scale; the
search is a word TF-IDF whose "top 5" comes from an unsorted ``argpartition``. Tests check that
``movies.recommender.RatingsIndex`` gives the recipe's scores, and ``movies_benchmark.py``
compares both halves.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from movies.settings import DataSettings, MovieQuery


def recipe_scores(
    ratings: pd.DataFrame,
    movie_id: int,
    like_threshold: float = DataSettings.like_threshold,
    min_share: float = MovieQuery.min_share,
) -> pd.DataFrame:
    """Score every candidate movie for ``movie_id`` the straightforward way.

    Returns a frame indexed by movieId with columns ``similar`` (share of similar users who liked
    it), ``all`` (share of all users who liked it) and ``score``, sorted best first, ties broken by
    number of ratings then movieId; ``movie_id`` itself is dropped.
    """
    liked = ratings[ratings["rating"] > like_threshold]
    similar_users = liked.loc[liked["movieId"] == movie_id, "userId"].unique()
    similar_recs = liked.loc[liked["userId"].isin(similar_users), "movieId"].value_counts()
    similar_recs = similar_recs / len(similar_users)
    similar_recs = similar_recs[similar_recs > min_share]
    all_users = liked[liked["movieId"].isin(similar_recs.index)]
    all_recs = all_users["movieId"].value_counts() / len(all_users["userId"].unique())
    scores = pd.concat([similar_recs, all_recs], axis=1)
    scores.columns = ["similar", "all"]
    scores["score"] = scores["similar"] / scores["all"]
    scores["n_ratings"] = ratings["movieId"].value_counts().reindex(scores.index)
    scores = scores.drop(index=movie_id, errors="ignore")
    scores = scores.rename_axis("movieId").reset_index()
    scores = scores.sort_values(["score", "n_ratings", "movieId"], ascending=[False, False, True])
    return scores.set_index("movieId").drop(columns="n_ratings")


def clean_title(title: str) -> str:
    """The classic cleaning step: keep ASCII letters, digits and spaces."""
    return re.sub("[^a-zA-Z0-9 ]", "", title)


class ClassicTitleSearch:
    """The classic search: word 1-2-gram TF-IDF, cosine similarity, an unsorted top 5."""

    def __init__(self, movies: pd.DataFrame) -> None:
        """Index the titles of ``movies`` (movieId, title)."""
        self.movies = movies.reset_index(drop=True)
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2))
        self.tfidf = self.vectorizer.fit_transform(self.movies["title"].map(clean_title))

    def search(self, title: str) -> pd.DataFrame:
        """Return the classic five results; the first row is what the walkthrough recommends for."""
        query = self.vectorizer.transform([clean_title(title)])
        similarity = cosine_similarity(query, self.tfidf).flatten()
        indices = np.argpartition(similarity, -5)[-5:]
        return self.movies.iloc[indices][::-1]
