"""The text pipeline: normalization, the med-spa lexicon, spaCy + Presidio analysis (analysis), the YAML rule
packs evaluated over that analysis (rules) and the learned layer stacked on the rule signals (learned).
"""
