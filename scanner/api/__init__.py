"""The reply-gate HTTP API: the FastAPI app (app), where its scans run (workers) and its API keys and rate
limiter (keys).
"""
