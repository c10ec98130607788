"""Wave 2: live codes, welcome messages, keyword replies, SOPs, mass sends, moments."""
