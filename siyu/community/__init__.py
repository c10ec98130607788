"""Wave 2: group types, entry thresholds, group health, referral campaigns."""
