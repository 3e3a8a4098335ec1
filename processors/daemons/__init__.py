"""The product's daemons (vendor enrichment, client onboarding, question answering)."""
