"""Analysis of the results files: statistics (stats), sections, the claims ledger (claims, the
rules of claim_rules, declared in paper/claims.toml), the TF-IDF baseline; entry point `analyse`."""
