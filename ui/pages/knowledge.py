"""Page script run by st.navigation; the page itself is ui/views/knowledge.py."""

from ui.views.knowledge import render

render()
