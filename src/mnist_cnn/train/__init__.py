"""Training: the train command's steps (runner), the fit session (training) and its Keras callbacks."""
