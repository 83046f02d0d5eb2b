"""Tests of the image pipeline."""
