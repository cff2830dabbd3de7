"""Background managers: jobs, diagnoses, and the RunManager that owns them."""
