"""Analysis of the results files: statistics (stats), sections, the attention's effects
(attention_effects), the claims ledger's verdicts (claims, the rules of claim_rules and, for v3
results, claim_rules_v3 from the seed-level section, declared in paper/claims.toml; its sentences
are the report's), the seed-level section (seed_level), the TF-IDF baseline, the rerun spread
(rerun); entry point `analyse`."""
