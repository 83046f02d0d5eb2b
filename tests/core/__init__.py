"""Tests of the core (store, audit log, encryption at rest)."""
