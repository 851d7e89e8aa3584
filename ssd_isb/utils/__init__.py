"""Small helpers every part uses (TF-free): the package's errors, result files written whole,
progress bars, quiet native logs and the stop signals."""
