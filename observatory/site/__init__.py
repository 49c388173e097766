"""The served observatory as one site: which apps it has, who may open them, and how users sign in."""
