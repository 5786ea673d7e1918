"""Page bodies: one module per page with a `render()`; ui/pages/ holds the scripts."""
