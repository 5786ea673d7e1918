"""One Desk (model, index, database, services) per process, shared by every session."""

from __future__ import annotations

import streamlit as st

from service.desk import Desk
from settings import load_settings


@st.cache_resource(show_spinner="Loading model and index…")
def desk() -> Desk:
    """Load settings, the model, the database and the index once per process."""
    return Desk.open(load_settings())


def engine():
    return desk().engine
