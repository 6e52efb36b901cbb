"""Statistics shared by evaluation, analysis and report: intervals, tests, equivalence."""
