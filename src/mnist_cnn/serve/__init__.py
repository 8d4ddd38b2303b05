"""`mnist-cnn serve`: an HTTP prediction service and its draw-a-digit page (shipped in `static/`)."""
