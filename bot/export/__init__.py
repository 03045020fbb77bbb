"""Exports of the archive (JSON Lines, CSV, media alongside) and signed evidence bundles."""
