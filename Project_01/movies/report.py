"""How an answer is shown: a table for people, or one JSON document for programs."""

from __future__ import annotations

import json
from typing import Any


def render(result: dict[str, Any], output_format: str) -> str:
    """Format an ``answer()`` result as ``"table"`` or ``"json"``."""
    if output_format == "json":
        return json.dumps(result, ensure_ascii=False)
    return render_table(result)


def _describe_filters(filters: dict[str, Any]) -> str:
    parts = []
    if filters["genres"]:
        parts.append("genre " + " or ".join(filters["genres"]))
    if filters["year_from"] is not None or filters["year_to"] is not None:
        low, high = ("..." if filters[key] is None else filters[key]
                     for key in ("year_from", "year_to"))
        parts.append(f"years {low}-{high}")
    return "; ".join(parts)


def render_table(result: dict[str, Any]) -> str:
    """Format an ``answer()`` result for people."""
    lines = []
    for seed in result["seeds"]:
        match = seed["match"]
        lines.append(f"Best match: {match['title']} (movieId {match['movieId']}, "
                     f"similarity {match['similarity']:.2f})")
        if seed["alternatives"]:
            lines.append("Also close: " + "; ".join(a["title"] for a in seed["alternatives"]))
    lines += [f"Note: {note}" for note in result["notes"]]
    if filters := _describe_filters(result["filters"]):
        lines.append(f"Only showing: {filters}")
    users, fallback = result["similar_users"], result["fallback"]
    filled = sum(rec["score"] is None for rec in result["recommendations"])
    if fallback == "popular_in_genre" and filled < len(result["recommendations"]):
        liked = "it" if len(result["seeds"]) == 1 else "any of them"
        lines.append(f"Similar users (who liked {liked}): {users}; too few of them liked enough "
                     f"other movies, so the last "
                     f"{filled} (score -) are the most liked movies of the same genres.")
    elif fallback == "popular_in_genre":
        lines.append(f"Only {users} user(s) liked {'it' if len(result['seeds']) == 1 else 'them'}"
                     ": too few to go by, so here are the most liked movies of the same genres.")
    else:
        liked = "it" if len(result["seeds"]) == 1 else "any of them"
        lines.append(f"Similar users (who liked {liked}): {users}")
    if not result["recommendations"]:
        if result["empty_because_of_filters"]:
            liked = "most liked movies of the same genres" if fallback else (
                "movies these users liked")
            lines.append(f"No recommendations: none of the {liked} passes the filters "
                         f"({filters}); widen or drop them.")
        elif fallback:
            lines.append("No recommendations: nobody liked a movie of the same genres either.")
        elif users == 0:
            lines.append("No recommendations: nobody liked this movie enough.")
        else:
            lines.append("No recommendations: no other movie was liked by enough of these users.")
        return "\n".join(lines)
    lines += ["", f"{'#':>2}  {'score':>6}  {'similar':>7}  {'all':>6}  {'users':>6}  title"]
    for rank, rec in enumerate(result["recommendations"], start=1):
        score = "-" if rec["score"] is None else f"{rec['score']:.2f}"
        lines.append(f"{rank:>2}  {score:>6}  {rec['similar_users_share']:7.1%}  "
                     f"{rec['all_users_share']:6.1%}  {rec['similar_users_liked']:>6}  "
                     f"{rec['title']}")
    return "\n".join(lines)
