"""The people side: the review queue and decisions (queue), dashboard users (accounts) and sessions, uploads
and PHI retention (retention), the demo data for `make run` (demo_data) and the Streamlit launcher without its
metrics endpoint (streamlit_boot).
"""
