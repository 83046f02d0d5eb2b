"""The authorization registry: who agreed to what marketing use (authorizations: tables, CSV import and
export, reference photos and face matching) and finding its patients in text and file names (names).
"""
