"""One Engine per process, shared by every session and rerun."""

from __future__ import annotations

import streamlit as st

from service.engine import Engine
from settings import load_settings


@st.cache_resource(show_spinner="Loading model and index…")
def engine() -> Engine:
    """Load settings, the model, the database and the index once per process."""
    return Engine(load_settings())
