"""Analysis of the results files: statistics (stats), sections, the attention's effects
(attention_effects), the claims ledger's verdicts (claims, the rules of claim_rules, declared in
paper/claims.toml; its sentences are the report's), the TF-IDF baseline, the rerun spread
(rerun); entry point `analyse`."""
