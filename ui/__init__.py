"""The Streamlit user interface: thin pages over the service layer."""
