"""The people side: the review queue and decisions (queue), dashboard users (accounts) and sessions, uploads
and PHI retention (retention), and the Streamlit launcher without its metrics endpoint (streamlit_boot).
"""
