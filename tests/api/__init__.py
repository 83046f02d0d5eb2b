"""Tests of the reply-gate API and its keys."""
