"""Tests of the whole scanning pipeline under hostile input."""
