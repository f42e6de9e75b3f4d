"""The report layer: tables, figures, segment names, narrative sentences, loading results, notebooks.

Fits no model: it reads what the model layer and the stages wrote.
"""
