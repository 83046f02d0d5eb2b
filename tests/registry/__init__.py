"""Tests of the authorization registry."""
