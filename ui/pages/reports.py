"""Page script run by st.navigation; the page itself is ui/views/reports.py."""

from ui.views.reports import render

render()
