"""Page script run by st.navigation; the page itself is ui/views/search.py."""

from ui.views.search import render

render()
