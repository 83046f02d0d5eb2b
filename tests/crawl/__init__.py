"""Tests of the crawl and its connectors."""
