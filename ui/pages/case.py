"""Page script run by st.navigation; the page itself is ui/views/case.py."""

from ui.views.case import render

render()
