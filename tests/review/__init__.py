"""Tests of the review queue, accounts and dashboard."""
