"""Analysis of the results files: statistics (stats), sections, the claims ledger (claims), the TF-IDF baseline; entry point `analyse`."""
