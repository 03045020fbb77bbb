"""The read-only web viewer of the archive (`dozor web`)."""
