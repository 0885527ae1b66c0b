"""Episode data sets and the training chunks cut from them."""
