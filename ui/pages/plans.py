"""Page script run by st.navigation; the page itself is ui/views/plans.py."""

from ui.views.plans import render

render()
