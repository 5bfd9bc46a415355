"""Plans.

What a pull, deploy or promotion would do, decided before anything changes (deploy
plans, comparisons between folders, code checks, authorship).
"""
