"""The promotion gate: a candidate model configuration replaces a daemon's current one only
when a comparison shows it better on held-out cases and no worse on the cases where the right
answer is "cannot answer" or "blocked" (a known regression of tool-calling fine-tunes).

    gate.py     which cases are guard cases; the decision, a pure function of a comparison
    store.py    where a daemon's model configuration lives and how a promotion writes it
"""
