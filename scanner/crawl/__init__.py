"""The weekly scan of published content: sources.yaml (config), the crawl run (run), the connectors
(sources/) and the weekly HTML/CSV report of a run (report).
"""
