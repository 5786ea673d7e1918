"""Page script run by st.navigation; the page itself is ui/views/signin.py."""

from ui.views.signin import render

render()
