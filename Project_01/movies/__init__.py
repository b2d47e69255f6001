"""Movie recommendations from MovieLens ratings: find the movie a person means, then what its
fans loved. ``movie_recommendations.py`` beside this folder is the command line; the README's
"Start here" section says which modules to read first."""
