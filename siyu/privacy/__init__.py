"""PIPL: export everything about a person, anonymise on request, marketing opt-out."""
