"""MedSpa Compliance Scanner."""
