"""Page script run by st.navigation; the page itself is ui/views/intake.py."""

from ui.views.intake import render

render()
