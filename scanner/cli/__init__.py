"""The `medspa-scan` command line: the entry point and dispatch (main) and one module per group of commands
(scan, registry, crawl, serve, dashboard).
"""
