"""Page script run by st.navigation; the page itself is ui/views/queue.py."""

from ui.views.queue import render

render()
