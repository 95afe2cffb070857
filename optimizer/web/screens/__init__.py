"""The page handlers of the web app, one module per page group (see :mod:`optimizer.web.pages`)."""
