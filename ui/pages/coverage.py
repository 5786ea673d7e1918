"""Page script run by st.navigation; the page itself is ui/views/coverage.py."""

from ui.views.coverage import render

render()
