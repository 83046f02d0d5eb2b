"""The image pipeline: safe loading (load), embedded metadata (metadata), faces and before/after composites
(faces), text in the picture (ocr), IMG findings from the rule pack (findings); `analysis` is its public
surface (scan_images, analyze, redact, strip_metadata).
"""
