"""Page script run by st.navigation; the page itself is ui/views/customers.py."""

from ui.views.customers import render

render()
