"""Tests of the text pipeline (rules, learned layer, generalization)."""
