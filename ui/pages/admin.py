"""Page script run by st.navigation; the page itself is ui/views/admin.py."""

from ui.views.admin import render

render()
